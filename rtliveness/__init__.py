"""rtliveness — real-time face liveness (presentation attack detection) on video streams."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("rtliveness")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
