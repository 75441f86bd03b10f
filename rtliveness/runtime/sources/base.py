"""The frame-source protocol, the base every source shares, in-memory frames, and the frame
rate rule."""

from __future__ import annotations

from typing import Callable, Iterator, Protocol, Sequence

import numpy as np

from ...types import Frame, as_bgr

SourceEvent = Callable[[str, str], None]
"""Callback ``(event, detail)`` for live-source events: ``lost``, ``open_failed`` (a reconnect
attempt raised; detail names the error), ``reconnected``, ``gave_up``."""


class FrameSource(Protocol):
    name: str
    is_live: bool
    fps: float | None
    frame_count: int | None
    dropped: int

    def __iter__(self) -> Iterator[Frame]: ...
    def close(self) -> None: ...
    def __enter__(self) -> "FrameSource": ...
    def __exit__(self, *exc) -> None: ...


class _SourceBase:
    name = "source"
    is_live = False
    fps: float | None = None
    frame_count: int | None = None
    dropped = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        pass


class ArraySource(_SourceBase):
    """In-memory frames (numpy arrays: gray, BGR or BGRA uint8), delivered in order."""

    def __init__(self, images: Sequence[np.ndarray], fps: float = 30.0, name: str = "arrays") -> None:
        self._images = images
        self.fps = float(fps)
        self.frame_count = len(images)
        self.name = name

    def __iter__(self) -> Iterator[Frame]:
        for i, img in enumerate(self._images):
            yield Frame(i, as_bgr(img), i / self.fps)


#: the frame rate assumed where a source reports none (a camera, a photo) or an implausible one
DEFAULT_FPS = 25.0


def sane_fps(fps: float | None) -> float | None:
    """A reported frame rate if it is plausible (finite, in (0, 1000)), else None."""
    try:
        f = float(fps) if fps is not None else float("nan")
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) and 0.0 < f < 1000.0 else None
