"""Settings of the service, validated once (bad values raise :class:`ConfigError`)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..config import LOW_LIGHT_TARGET, DetectorConfig, TrackerConfig, check_field_types, check_low_light_target, check_threshold
from ..errors import ConfigError

__all__ = ["ServeConfig", "normalise_origin"]

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def normalise_origin(origin: str) -> str:
    """An origin as browsers send it in the ``Origin`` header: scheme and host in lower case,
    no default port (``:443`` for https, ``:80`` for http), no trailing slash. Both sides of the
    origin check go through it, so ``https://Kiosk.example:443/`` matches ``https://kiosk.example``."""
    scheme, sep, netloc = origin.strip().rstrip("/").partition("://")
    if not sep:
        return origin.strip().lower()
    scheme, netloc = scheme.lower(), netloc.lower()
    host, colon, port = netloc.rpartition(":")
    if colon and not host.endswith("]") and "]" in port:  # an IPv6 literal without a port
        host, port = netloc, ""
    if colon and port == _DEFAULT_PORTS.get(scheme):
        netloc = host
    return f"{scheme}://{netloc}"


@dataclass(frozen=True)
class ServeConfig:
    """What ``rtliveness serve`` runs with.

    ``max_streams`` bounds the WebSocket streams and uploads analysed at once (more get 503 /
    close code 1013) — an upload takes its slot before its body is read, so one over the limit
    is refused at once and nothing of it is stored; ``max_upload_mb`` bounds an upload (413);
    ``max_frame_mb`` bounds a single WebSocket frame (close code 1009), held in memory — kept
    apart from the upload limit, which bounds a file on disk; ``idle_timeout_s`` closes a stream
    that sends no frame for that long (close code 1001) or whose client reads none of its
    records for that long (1008), and ends an upload whose body pauses for that long (408), so
    idle clients cannot hold every slot, and closes a connection that sends no whole request
    head for that long (:mod:`rtliveness.serve.protocol`); ``allow_origins``: when not empty, the only browser
    origins besides the service's own page that may open a stream or post an upload, and the
    origins that get CORS headers;
    ``max_pending`` is how many received frames of one stream may wait while the previous one
    is processed — beyond it the oldest waiting frame is dropped (its record says
    ``"dropped": true``), so a slow client never makes the server buffer without bound."""

    host: str = "127.0.0.1"
    port: int = 8000
    weights: Path | None = None
    device: str = "auto"
    security: str | None = None
    threshold: float | None = None
    token: str | None = None
    max_streams: int = 8
    max_upload_mb: float = 200.0
    max_frame_mb: float = 32.0
    max_pending: int = 2
    backend: str = "auto"
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    max_batch: int = 32
    decision_timeout_s: float = 10.0
    low_light_target: float = LOW_LIGHT_TARGET
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    idle_timeout_s: float = 60.0
    allow_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.threshold is not None:  # before the model loads (it used to fail after it, seconds later)
            check_threshold(self.threshold)
        if not 0 < self.port < 65536:
            raise ConfigError(f"--port must be in 1..65535, got {self.port}")
        if self.max_streams < 1:
            raise ConfigError(f"--max-streams must be >= 1, got {self.max_streams}")
        if not (math.isfinite(self.max_upload_mb) and self.max_upload_mb >= 0.001):
            raise ConfigError(f"--max-upload-mb must be a finite number >= 0.001 (1 KiB), got {self.max_upload_mb}")
        if not (math.isfinite(self.max_frame_mb) and self.max_frame_mb >= 0.001):
            raise ConfigError(f"--max-frame-mb must be a finite number >= 0.001 (1 KiB), got {self.max_frame_mb}")
        if not (math.isfinite(self.idle_timeout_s) and self.idle_timeout_s > 0):
            raise ConfigError(f"--idle-timeout must be a finite number of seconds > 0, got {self.idle_timeout_s}")
        for origin in self.allow_origins:
            if not re.fullmatch(r"https?://[^/\s]+/?", origin):
                raise ConfigError(f"--allow-origin must be a scheme and host like https://kiosk.example:8443 "
                                  f"(no path), got {origin!r}")
        object.__setattr__(self, "allow_origins", tuple(normalise_origin(o) for o in self.allow_origins))
        if self.max_pending < 1:
            raise ConfigError(f"max_pending must be >= 1, got {self.max_pending}")
        if self.token is not None and len(self.token) < 8:
            raise ConfigError("--token must be at least 8 characters; use a long random string")
        if self.token is not None and not re.fullmatch(r"[\x21-\x7e]+", self.token):
            raise ConfigError("--token must be printable ASCII without spaces (it travels in an HTTP header "
                              "and a URL); use a long random string such as the output of 'openssl rand -hex 24'")
        if not self.decision_timeout_s > 0:
            raise ConfigError(f"decision timeout must be > 0 s, got {self.decision_timeout_s}")
        object.__setattr__(self, "low_light_target", check_low_light_target(self.low_light_target))

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_frame_bytes(self) -> int:
        return int(self.max_frame_mb * 1024 * 1024)
