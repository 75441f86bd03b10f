"""Settings of a synthesis run (one frozen, validated record)."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ConfigError
from ...model.dims import WINDOW
from ..attacks import CLASSES

_WINDOW = WINDOW  # frames of a sample: one window of the SpoofModel


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of a synthesis run; every field is recorded in ``rtliveness_data.json``.

    ``samples_per_class`` is the number of 5-crop samples written for EACH class, in total over
    all identities. Identities are allotted to samples by weight (a video person weighs
    ``video_weight``, a face in a still weighs 1), with the same allotment in every class, so each
    identity appears in the real and in the attack classes.
    """

    samples_per_class: int = 100
    seed: int = 0
    frame_size: tuple[int, int] = (640, 480)
    store_scale: float = 2.7
    store_size: int = 224
    classes: tuple[str, ...] = CLASSES
    # sources
    sources: tuple[str, ...] = ()          # asset file names to use; () = every video/image found
    background_only: tuple[str, ...] = ("dogs.jpg",)  # images used only as backgrounds
    min_source_face: int = 40              # faces smaller than this in a still are not identities
    video_weight: float = 8.0
    # geometry
    face_size: tuple[float, float] = (60.0, 300.0)   # face box width in the rendered frame, px
    max_upscale: float = 4.0               # a source face is never magnified more than this
    frame_stride: tuple[int, int] = (1, 3)
    tilt_deg: tuple[float, float] = (0.0, 35.0)      # out-of-plane angle of sheets / screens
    # print
    # camera px per halftone cell: a 150-lpi print of a 6-10 cm face seen 150 px wide is ~0.3;
    # values past 1 are close-ups of coarse prints (visible dots), kept but rarer
    halftone_cell_px: tuple[float, float] = (0.2, 1.2)
    print_modes: tuple[str, ...] = ("am", "fm", "ordered", "contone")
    print_saturation: tuple[float, float] = (0.6, 0.95)
    paper_margin_p: float = 0.5
    finger_p: float = 0.5
    # screen
    # camera px per screen pixel: a phone (~400 ppi) or laptop (~100 ppi) showing a face that the
    # camera sees 150-200 px wide gives ~0.3; strong pixel-grid moire needs ~1 (very close, low ppi)
    screen_pixel_px: tuple[float, float] = (0.15, 1.3)
    glare_p: float = 0.6
    # share of replays whose content first goes through the attacker's recording (resize, tone,
    # saturation, sharpening, JPEG; ``source.py``); 0 = off, the content shown as it is
    replay_source_p: float = 0.0
    # share of samples, every class alike, whose capture camera also tone-maps (S-curve) and
    # saturates, from the same ranges as the replay's recording (``camera.py``); 0 = off
    camera_tone_p: float = 0.0
    # 2D mask
    mask_lag_frames: tuple[float, float] = (0.3, 1.5)
    eye_holes_p: float = 0.3
    # camera
    jpeg_quality: tuple[int, int] = (35, 95)
    motion_blur_p: float = 0.3
    # detection / tracking
    det_min_face_size: int = 40
    det_factor: float = 0.6
    min_iou: float = 0.3
    max_attempts: int = 6
    # "loop": crops at the boxes the deployed loop gives (detector every 3rd frame, tracker
    # between), after ``warmup`` rendered frames that settle its tracker and pick the cadence
    # phase; "detect": the detector on every frame of the window (the face stays centred)
    boxes: str = "loop"
    warmup: tuple[int, int] = (4, 6)

    def __post_init__(self) -> None:
        if not isinstance(self.samples_per_class, int) or self.samples_per_class < 1:
            raise ConfigError(f"samples_per_class must be an integer >= 1, got {self.samples_per_class!r}")
        bad = [c for c in self.classes if c not in CLASSES]
        if bad or not self.classes:
            raise ConfigError(f"unknown classes {bad}: use some of {CLASSES}")
        w, h = self.frame_size
        if w < 64 or h < 64:
            raise ConfigError(f"frame_size must be at least 64x64, got {self.frame_size!r}")
        if not (1.0 <= self.store_scale <= 6.0) or self.store_size < 16:
            raise ConfigError(f"need 1 <= store_scale <= 6 and store_size >= 16, got {self.store_scale}, {self.store_size}")
        for name in ("replay_source_p", "camera_tone_p"):
            if not (0.0 <= getattr(self, name) <= 1.0):
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if not (0.0 < self.min_iou < 1.0):
            raise ConfigError(f"min_iou must be in (0, 1), got {self.min_iou!r}")
        lo, hi = self.face_size
        if not (20 <= lo <= hi):
            raise ConfigError(f"face_size must be (lo, hi) with 20 <= lo <= hi, got {self.face_size!r}")
        from ..prepare import BOX_MODES

        if self.boxes not in BOX_MODES:
            raise ConfigError(f"boxes must be {' or '.join(BOX_MODES)}, got {self.boxes!r}")
        if not (0 <= self.warmup[0] <= self.warmup[1] <= 60):
            raise ConfigError(f"warmup must be (lo, hi) with 0 <= lo <= hi <= 60 frames, got {self.warmup!r}")
        bad_modes = [m for m in self.print_modes if m not in ("am", "fm", "ordered", "contone")]
        if bad_modes or not self.print_modes:
            raise ConfigError(f"unknown print modes {bad_modes}")
