"""What a SOURCE argument is: a camera index, a stream URL or a file path (pure string work)."""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import ConfigError
from ...redact import redact_url

#: the URL schemes read as streams (anything else that is not a camera index is a file path)
STREAM_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")


def parse_source(spec: str | int) -> tuple[str, str | int]:
    """Classify a SOURCE argument: ('camera', index) | ('stream', url) | ('file', path)."""
    if isinstance(spec, bool) or spec is None:
        raise ConfigError(f"invalid source {spec!r}: give a camera index (0, 1 …), a URL or a file path")
    if isinstance(spec, int):
        if spec < 0:  # OpenCV's "any camera" (-1) crashes some capture back ends: refuse it here
            raise ConfigError(f"camera index must be >= 0, got {spec}")
        return "camera", spec
    s = str(spec).strip()
    if not s:
        raise ConfigError("empty source: give a camera index (0, 1 …), a URL or a file path")
    if s.lstrip("-").isdigit():
        idx = int(s)
        if idx < 0:
            raise ConfigError(f"camera index must be >= 0, got {idx}")
        return "camera", idx
    if s.lower().startswith("file:"):  # a file URL (a file manager's copy, a browser's address): its path
        return "file", _file_url_path(s)
    if s.lower().startswith(STREAM_PREFIXES):
        problem = _url_problem(s)
        if problem is not None:
            raise ConfigError(f"malformed stream URL {s!r}: {problem}; e.g. rtsp://camera.local:554/stream")
        return "stream", s
    return "file", s


def _file_url_path(url: str) -> str:
    """The local path a ``file:`` URL names (``file:///tmp/a%20b.mov`` is ``/tmp/a b.mov``)."""
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ConfigError(f"file URL {url!r} names another machine ({parts.netloc}); give a local path, "
                          "or a stream URL (rtsp://, http://) for a remote camera")
    path = url2pathname(parts.path)
    if not path:
        raise ConfigError(f"file URL {url!r} names no file; e.g. file:///home/me/clip.mp4")
    return path


def display_name(spec: str | int) -> str:
    """The name a source has in outputs (``run``'s summary ``source``, the fleet's): ``camera N``
    for a camera index, the URL for a stream (its password masked: ``rtsp://admin:***@cam/…``),
    the path as ``pathlib`` writes it for a file."""
    kind, value = parse_source(spec)
    if kind == "camera":
        return f"camera {value}"
    return redact_url(str(value)) if kind == "stream" else str(Path(value))


#: schemes whose URL names a host to connect to (``udp://@:5004`` and ``tcp://:5000?listen=1``
#: are FFmpeg's listening forms, without one)
_HOST_SCHEMES = ("rtsp", "rtsps", "http", "https", "rtmp")


def _url_problem(url: str) -> str | None:
    """What is wrong with a stream URL's host and port (None: nothing). Read by hand, not with
    ``urlsplit``, which also judges brackets in a password that FFmpeg accepts."""
    scheme, rest = url.split("://", 1)
    hostport = re.split(r"[/?#]", rest, maxsplit=1)[0].rsplit("@", 1)[-1]
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            return "an IPv6 host needs its closing ]"
        host, port = hostport[1:end], hostport[end + 1:]
        if port and not port.startswith(":"):
            return f"unexpected {port!r} after the IPv6 host"
        port = port[1:]
    else:
        host, _, port = hostport.partition(":")
    if not host and scheme.lower() in _HOST_SCHEMES:
        return "no host"
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        return f"port {port!r} is not a number in 1..65535"
    return None
