"""The frame-source protocol, the base every source shares, in-memory frames, and the frame
rate rule."""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
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

#: the longest the interpreter's exit waits, all sources together, for the reader threads of
#: sources nobody closed (a local file's read takes milliseconds; a stalled stream's is bounded
#: by its read timeout, which this may cut short)
EXIT_JOIN_S = 10.0


def _close_quietly(src) -> None:
    with contextlib.suppress(Exception):
        src.close()


def _close_left_open() -> None:
    """At interpreter exit, close every source whose reader thread still runs (a script that
    never closed its camera, stream or video): a daemon thread inside FFmpeg when the interpreter
    finalises aborts the process ("terminate called without an active exception", exit code 134).
    The one exit path of every source: all stop flags first, so the readers wind down together,
    then the closes side by side against one deadline (one after another, dead cameras added
    their timeouts up)."""
    left = [s for s in list(_SOURCES) if isinstance(t := getattr(s, "_thread", None), threading.Thread) and t.is_alive()]
    for src in left:
        stop = getattr(src, "_stop", None)
        if isinstance(stop, threading.Event):
            stop.set()
    closers = [threading.Thread(target=_close_quietly, args=(src,), name="rtliveness-exit-close", daemon=True)
               for src in left]
    for t in closers:
        t.start()
    end = time.monotonic() + EXIT_JOIN_S
    for t in closers:
        t.join(timeout=max(0.0, end - time.monotonic()))


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
