"""The name a local video file is handed to OpenCV's FFmpeg under: one place for the rule.

FFmpeg reads a name whose part before a colon looks like a scheme as a protocol: a relative
``2024-01-01T12:30:00.mov`` (a recorder's time-stamped file) or ``cam1:front.mp4`` is "protocol
``2024-01-01T12`` not found", as input and as output. An absolute path starts with ``/`` (or a
drive letter, which FFmpeg knows) and is always a file.
"""

from __future__ import annotations

import os

__all__ = ["ffmpeg_path"]


def ffmpeg_path(path: str | os.PathLike) -> str:
    """``path`` (a local file) as FFmpeg reads it as a file whatever its name: absolute."""
    return os.path.abspath(os.fspath(path))
