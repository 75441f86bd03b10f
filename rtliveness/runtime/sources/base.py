"""The frame-source protocol, the base every source shares, in-memory frames, and the frame
rate rule."""

from __future__ import annotations

import atexit
import contextlib
import threading
import weakref
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


#: every source made, while it exists: those still reading on a thread at exit are closed then
_SOURCES: "weakref.WeakSet[_SourceBase]" = weakref.WeakSet()


def _close_left_open() -> None:
    """At interpreter exit, close every source whose reader thread still runs (a script that
    never closed its camera or stream): a daemon thread inside FFmpeg when the interpreter
    finalises aborts the process ("terminate called without an active exception", exit code 134)."""
    for src in list(_SOURCES):
        t = getattr(src, "_thread", None)
        if isinstance(t, threading.Thread) and t.is_alive():
            with contextlib.suppress(Exception):
                src.close()


atexit.register(_close_left_open)


class _SourceBase:
    name = "source"
    is_live = False
    fps: float | None = None
    frame_count: int | None = None
    dropped = 0

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        _SOURCES.add(obj)
        return obj

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
