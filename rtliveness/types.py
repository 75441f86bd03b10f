"""Typed, frozen records passed between the stages of the pipeline.

Colour order is part of every image's name: ``image_bgr`` is what OpenCV reads and writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .errors import FrameError

__all__ = [
    "Label",
    "Frame",
    "FaceBox",
    "Verdict",
    "FrameResult",
    "TrackSummary",
    "as_bgr",
    "as_timestamp",
    "over_white",
]

Label = Literal["live", "spoof", "pending"]
LABELS: tuple[str, ...] = ("live", "spoof", "pending")


def as_timestamp(value) -> float:
    """A frame's time as float seconds (a number; numpy scalars too); anything else, NaN and
    infinities included, is one :class:`FrameError`. The one rule of a timestamp: ``Frame``'s and
    ``LivenessPipeline.step``'s."""
    if isinstance(value, (bool, str, bytes, bytearray, memoryview)):  # float("4") would take a string
        raise FrameError(f"timestamp must be a number of seconds, got {value!r}")
    try:
        ts = float(value)
    except (TypeError, ValueError):
        raise FrameError(f"timestamp must be a number of seconds, got {value!r}") from None
    if not math.isfinite(ts):
        raise FrameError(f"timestamp must be finite, got {value!r}")
    return ts


def over_white(image_bgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``image_bgr`` (HxWx3 uint8) with its transparency ``alpha`` (HxW uint8) laid over white, as a
    browser or viewer shows a cut-out picture: the colour transparent pixels hold (often black) is
    not what anyone saw — a cut-out portrait on black reads as an attack, on white as live. An
    alpha that is 255 everywhere, or 0 everywhere (a 32-bit BMP's or a capture API's unused
    padding byte), is no transparency: the image comes back as it is. The one rule for
    transparency: photos given to ``run`` and BGRA frames given to the API."""
    if alpha.shape != image_bgr.shape[:2]:
        raise FrameError(f"alpha shape {alpha.shape} does not match the image's {image_bgr.shape[:2]}")
    low, high = int(alpha.min()), int(alpha.max())
    if low == 255 or high == 0:
        return image_bgr
    a = alpha[:, :, None].astype(np.float32) / 255.0
    return np.clip(image_bgr.astype(np.float32) * a + 255.0 * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as a contiguous HxWx3 uint8 BGR array.

    Accepts grayscale (HxW or HxWx1), BGR (HxWx3) and BGRA (HxWx4) uint8 images; anything else
    raises :class:`FrameError` naming the expected and actual shape/dtype. A BGRA image's
    transparency is laid over white (:func:`over_white`), as ``rtliveness run`` does with a cut-out
    PNG, so the API and the CLI score the same picture alike. The channel order
    cannot be checked: an RGB frame (PIL, a browser canvas, imageio) is taken as BGR, and a live
    face then looks blue and is scored as an attack — convert with ``frame[:, :, ::-1]``.
    """
    if not isinstance(image, np.ndarray):
        raise FrameError(f"frame must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        if image.dtype.kind == "f" and image.size and image.max() <= 1.0:  # pixels in [0, 1]
            hint = "scale floats in [0, 1] first: np.clip(frame * 255, 0, 255).astype(np.uint8)"
        elif image.dtype.kind == "u" and image.dtype.itemsize > 1:  # 16-bit camera or PNG: the top byte
            hint = f"keep the top byte: (frame >> {8 * (image.dtype.itemsize - 1)}).astype(np.uint8)"
        elif image.dtype.kind in "iuf":
            hint = "convert with np.clip(frame, 0, 255).astype(np.uint8)"
        else:
            hint = "give a uint8 gray, BGR or BGRA image"
        raise FrameError(f"frame must be uint8, got dtype {image.dtype}; {hint}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        gray = image.reshape(image.shape[0], image.shape[1])
        image = np.repeat(gray[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = over_white(image[:, :, :3], image[:, :, 3]) if image.size else image[:, :, :3]
    elif not (image.ndim == 3 and image.shape[2] == 3):
        raise FrameError(f"frame must be HxW, HxWx1, HxWx3 or HxWx4, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise FrameError(f"frame is empty: shape {image.shape}")
    return np.ascontiguousarray(image)


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    ``index`` counts frames delivered by the source (0-based); ``timestamp`` is seconds (media
    time for files, wall-clock since open for live sources); ``epoch`` increases each time a live
    source reconnects, so consumers know the stream had a gap.
    """

    index: int
    image_bgr: np.ndarray
    timestamp: float
    epoch: int = 0

    def __post_init__(self) -> None:
        img = self.image_bgr
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            shape = getattr(img, "shape", None)
            dtype = getattr(img, "dtype", None)
            raise FrameError(f"Frame.image_bgr must be HxWx3 uint8, got shape {shape} dtype {dtype}")
        if img.shape[0] < 1 or img.shape[1] < 1:
            raise FrameError(f"Frame.image_bgr is empty: shape {img.shape}")
        for name in ("index", "epoch"):
            v = getattr(self, name)
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise FrameError(f"Frame.{name} must be an integer, got {v!r}")
        if self.index < 0:
            raise FrameError(f"Frame.index must be >= 0, got {self.index}")
        ts = self.timestamp
        if type(ts) is not float or not math.isfinite(ts):  # a finite float (every source's) needs no work
            object.__setattr__(self, "timestamp", as_timestamp(ts))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return int(self.image_bgr.shape[1]), int(self.image_bgr.shape[0])


@dataclass(frozen=True)
class FaceBox:
    """A face box in pixel coordinates (x2/y2 exclusive) with the detector's confidence."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 1.0

    def __post_init__(self) -> None:
        vals = (self.x1, self.y1, self.x2, self.y2, self.score)
        if not all(np.isfinite(v) for v in vals):
            raise ValueError(f"FaceBox values must be finite, got {vals}")
        for name, v in zip(("x1", "y1", "x2", "y2", "score"), vals):
            if type(v) is not float:  # NumPy scalars from the tracker's carry: plain floats on every frame
                object.__setattr__(self, name, float(v))
        if self.x2 <= self.x1 or self.y2 <= self.y1:
            raise ValueError(f"FaceBox must have x2 > x1 and y2 > y1, got {vals[:4]}")

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def center(self) -> tuple[float, float]:
        return (self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0

    def as_list(self) -> list[int]:
        return [int(round(self.x1)), int(round(self.y1)), int(round(self.x2)), int(round(self.y2))]

    def clipped(self, width: int, height: int) -> "FaceBox | None":
        """The box clipped to an image of ``width`` x ``height``; None if nothing is left."""
        x1, y1 = max(0.0, self.x1), max(0.0, self.y1)
        x2, y2 = min(float(width), self.x2), min(float(height), self.y2)
        if x2 - x1 < 1 or y2 - y1 < 1:
            return None
        return FaceBox(x1, y1, x2, y2, self.score)


@dataclass(frozen=True)
class Verdict:
    """The state of one tracked face on one frame.

    ``p_spoof`` is None while ``label`` is ``"pending"`` (the track's window is not yet full).
    """

    track_id: int
    box: FaceBox
    p_spoof: float | None
    label: Label

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"Verdict.label must be one of {LABELS}, got {self.label!r}")
        if self.label == "pending":
            if self.p_spoof is not None:
                raise ValueError("a pending Verdict carries no p_spoof")
        else:
            if self.p_spoof is None or not (0.0 <= self.p_spoof <= 1.0):
                raise ValueError(f"a decided Verdict needs p_spoof in [0, 1], got {self.p_spoof!r}")

    def to_json(self) -> dict:
        return {
            "track": self.track_id,
            "box": self.box.as_list(),
            "p_spoof": None if self.p_spoof is None else round(float(self.p_spoof), 6),
            "label": self.label,
        }


@dataclass(frozen=True)
class FrameResult:
    """Everything the pipeline decided about one frame. ``faces`` is a tuple, empty when none."""

    frame_index: int
    timestamp: float
    faces: tuple[Verdict, ...] = field(default_factory=tuple)
    detected: bool = True
    #: the previous frame's verdicts given again (identical pixels): no new window was scored
    repeated: bool = False

    def to_json(self) -> dict:
        return {
            "frame": self.frame_index,
            "time": round(float(self.timestamp), 6),
            "faces": [v.to_json() for v in self.faces],
        }


@dataclass(frozen=True)
class TrackSummary:
    """A track's verdict over a whole run: the mean p_spoof of all its scored windows."""

    track_id: int
    first_frame: int
    last_frame: int
    frames: int
    windows: int
    mean_p_spoof: float | None
    label: Label

    def to_json(self) -> dict:
        return {
            "track": self.track_id,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "frames": self.frames,
            "windows": self.windows,
            "mean_p_spoof": None if self.mean_p_spoof is None else round(self.mean_p_spoof, 6),
            "label": self.label,
        }
