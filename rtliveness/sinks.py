"""Outputs: annotated video file, on-screen window (the only place ``imshow`` lives), JSON lines.

Each sink is a context manager; closing finalises the file (video trailer written, JSON flushed).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from .errors import ConfigError

__all__ = ["VideoSink", "JsonlSink", "WindowSink", "fourcc_for"]


def fourcc_for(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in (".mp4", ".m4v", ".mov"):
        return "mp4v"
    if ext == ".avi":
        return "MJPG"
    if ext == ".mkv":
        return "XVID"
    raise ConfigError(f"unsupported output video extension {ext!r} for {path}: use .mp4, .avi or .mkv")


class VideoSink:
    """Writes BGR frames to a video file; the writer opens on the first frame (its size)."""

    def __init__(self, path: str | os.PathLike, fps: float) -> None:
        self.path = Path(path)
        self.fourcc = fourcc_for(self.path)
        if not self.path.parent.exists():
            raise ConfigError(f"output folder does not exist: {self.path.parent}; create it first")
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, image_bgr: np.ndarray) -> None:
        h, w = image_bgr.shape[:2]
        if self._writer is None:
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not self._writer.isOpened():
                raise ConfigError(f"cannot write video {self.path} ({self.fourcc}, {w}x{h}); check the path and extension")
            self._size = (w, h)
        elif (w, h) != self._size:
            image_bgr = cv2.resize(image_bgr, self._size)
        self._writer.write(image_bgr)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class JsonlSink:
    """One JSON object per line, flushed as written, so a crash never leaves half a line."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.parent.exists():
            raise ConfigError(f"output folder does not exist: {self.path.parent}; create it first")
        self._fh: IO[str] | None = open(self.path, "w", encoding="utf-8")
        self.lines = 0

    def write(self, obj: dict[str, Any]) -> None:
        if self._fh is None:
            raise ValueError("JsonlSink is closed")
        line = json.dumps(obj, separators=(",", ":"), allow_nan=False)
        self._fh.write(line + "\n")
        self._fh.flush()
        self.lines += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            try:
                os.fsync(self._fh.fileno())
            except OSError:
                pass
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "JsonlSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class WindowSink:
    """An on-screen window. ``show`` returns False when the user pressed q or Esc."""

    def __init__(self, title: str = "rtliveness") -> None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            # OpenCV's Qt/GTK back end aborts the process without a display: refuse up front
            raise ConfigError("cannot open a window: no display (DISPLAY is not set); run with --no-show")
        self.title = title
        self._open = False

    def show(self, image_bgr: np.ndarray) -> bool:
        try:
            cv2.imshow(self.title, image_bgr)
            self._open = True
            key = cv2.waitKey(1) & 0xFF
        except cv2.error as exc:
            raise ConfigError(f"cannot open a window ({str(exc).strip().splitlines()[-1][:120]}); run with --no-show on a machine without a display") from exc
        return key not in (ord("q"), 27)

    def close(self) -> None:
        if self._open:
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error:
                pass
            self._open = False

    def __enter__(self) -> "WindowSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
