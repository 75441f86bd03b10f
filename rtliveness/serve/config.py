"""Settings of the service, validated once (bad values raise :class:`ConfigError`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import LOW_LIGHT_TARGET, DetectorConfig, check_low_light_target
from ..errors import ConfigError

__all__ = ["ServeConfig"]


@dataclass(frozen=True)
class ServeConfig:
    """What ``rtliveness serve`` runs with.

    ``max_streams`` bounds the WebSocket streams and uploads analysed at once (more get 503 /
    close code 1013); ``max_upload_mb`` bounds an upload and a single WebSocket frame (413);
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
    max_pending: int = 2
    backend: str = "auto"
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    max_batch: int = 32
    decision_timeout_s: float = 10.0
    low_light_target: float = LOW_LIGHT_TARGET

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"--port must be in 1..65535, got {self.port}")
        if self.max_streams < 1:
            raise ConfigError(f"--max-streams must be >= 1, got {self.max_streams}")
        if not self.max_upload_mb > 0:
            raise ConfigError(f"--max-upload-mb must be > 0, got {self.max_upload_mb}")
        if self.max_pending < 1:
            raise ConfigError(f"max_pending must be >= 1, got {self.max_pending}")
        if self.token is not None and len(self.token) < 8:
            raise ConfigError("--token must be at least 8 characters; use a long random string")
        if not self.decision_timeout_s > 0:
            raise ConfigError(f"decision timeout must be > 0 s, got {self.decision_timeout_s}")
        object.__setattr__(self, "low_light_target", check_low_light_target(self.low_light_target))

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
