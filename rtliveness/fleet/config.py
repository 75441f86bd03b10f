"""The fleet's settings, validated once (bad values raise :class:`ConfigError`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..config import LOW_LIGHT_TARGET, DetectorConfig, TrackerConfig, check_field_types, check_low_light_target, check_max_frames
from ..errors import ConfigError

__all__ = ["FleetConfig"]


@dataclass(frozen=True)
class FleetConfig:
    sources: tuple[str, ...] = ()
    out_dir: Path = Path("fleet-out")
    sources_file: Path | None = None
    address: str | None = None  # None: start a local Ray instance (and stop it at the end)
    workers: int = 2
    scorers: int = 1
    save_video: bool = False
    max_frames: int | None = None
    weights: Path | None = None
    device: str = "auto"
    threshold: float | None = None
    security: str | None = None
    backend: str = "auto"
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    give_up_s: float = 30.0
    poll_s: float = 0.5
    move_after_s: float = 15.0
    worker_cpus: float = 1.0
    scorer_cpus: float = 1.0
    scorer_gpus: float | None = None  # None: 1 when the device is CUDA, else 0
    max_batch: int = 32
    batch_wait_ms: float = 0.0  # how long a scorer call waits for other streams' calls (0: none)
    low_light_target: float = LOW_LIGHT_TARGET  # the loop's crop gain (rtliveness.runtime.exposure)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)  # the loop's tracker (restart_distance)

    def __post_init__(self) -> None:
        check_field_types(self)
        object.__setattr__(self, "low_light_target", check_low_light_target(self.low_light_target))
        if self.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {self.workers}")
        if self.scorers < 1:
            raise ConfigError(f"--scorers must be >= 1, got {self.scorers}")
        if not 0 <= self.batch_wait_ms <= 1000:
            raise ConfigError(f"--batch-wait-ms must be in [0, 1000], got {self.batch_wait_ms}")
        object.__setattr__(self, "max_frames", check_max_frames(self.max_frames))
        if not self.sources and self.sources_file is None:
            raise ConfigError("no sources: give SOURCE arguments or --sources-file FILE")
        if self.sources_file is not None and not Path(self.sources_file).is_file():
            raise ConfigError(f"--sources-file not found: {self.sources_file}; create it (one source per line)")
        if not Path(self.out_dir).parent.exists():
            raise ConfigError(f"--out-dir parent folder does not exist: {Path(self.out_dir).parent}; create it first")
        if Path(self.out_dir).exists() and not Path(self.out_dir).is_dir():
            raise ConfigError(f"--out-dir {self.out_dir} is a file, not a folder; name a folder (it is created if missing)")
        if not (math.isfinite(self.give_up_s) and self.give_up_s >= 0):
            raise ConfigError(f"--give-up must be >= 0 seconds, got {self.give_up_s}")
        for flag, v in (("--worker-cpus", self.worker_cpus), ("scorer_cpus", self.scorer_cpus)):
            if not (math.isfinite(v) and v > 0):
                raise ConfigError(f"{flag} must be a number of CPUs > 0, got {v}")
        if self.scorer_gpus is not None and not (math.isfinite(self.scorer_gpus) and self.scorer_gpus >= 0):
            raise ConfigError(f"scorer_gpus must be >= 0, got {self.scorer_gpus}")
