"""Where results go: the :class:`Sink` protocol and the built-in sinks.

A sink receives every processed frame with its result — ``write(frame, result)`` — and is
closed once at the end — ``close()``, which finalises what it writes (video trailer, flushed
JSON lines). A sink that records a whole run may also define ``end(summary)``, called once
before ``close`` with the run's summary dict. Sinks that show pixels draw the overlay
themselves. A new sink (WebSocket, Redis, Kafka …) is one class with these methods.

Built in: :class:`JsonlSink` (JSON lines), :class:`VideoSink` (annotated video file),
:class:`WindowSink` (on-screen window; the only place ``imshow`` lives), :class:`MemorySink`
(keeps results in a list), :class:`CallbackSink` (calls a function per result).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from pathlib import Path
from typing import IO, Any, Callable, Protocol, runtime_checkable

import numpy as np

from ..errors import ClosedError, ConfigError, OutputError
from ..outputs import check_output_file
from ..types import Frame, FrameResult
from ..videopath import ffmpeg_path

__all__ = [
    "Sink",
    "StopRequested",
    "JsonlSink",
    "VideoSink",
    "WindowSink",
    "MemorySink",
    "CallbackSink",
    "fourcc_for",
    "json_line",
    "VIDEO_EXTENSIONS",
]

#: the ``--jsonl`` path that means standard output
STDOUT = "-"
#: output video containers and the codec OpenCV's wheels write into each
VIDEO_EXTENSIONS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}


@runtime_checkable
class Sink(Protocol):
    def write(self, frame: Frame, result: FrameResult) -> None:
        """Take one processed frame and its result."""
        ...

    def close(self) -> None:
        """Finalise the output; called once, also after errors."""
        ...


class StopRequested(Exception):
    """Raised by a sink's ``write`` when the user asked to stop (q/Esc in the window)."""


def fourcc_for(path: Path) -> str:
    ext = Path(path).suffix.lower()
    if ext not in VIDEO_EXTENSIONS:
        raise ConfigError(f"unsupported output video extension {ext!r} for {path}: use "
                          f"{', '.join(VIDEO_EXTENSIONS)}")
    return VIDEO_EXTENSIONS[ext]


def json_line(obj: dict[str, Any]) -> str:
    """One record as the JSON lines contract writes it: compact, no NaN (no newline)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def _check_folder(path: Path) -> None:
    if not path.parent.exists():
        raise ConfigError(f"output folder does not exist: {path.parent}; create it first")


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (symbolic and hard links included; a missing file by its path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_output_paths(source: str | os.PathLike | None, out: str | os.PathLike | None,
                       jsonl: str | os.PathLike | None, names: tuple[str, str] = ("--out", "--jsonl")) -> None:
    """Refuse, before anything is opened, an output that :func:`rtliveness.outputs.check_output_file`
    refuses (a missing or read-only folder, a folder, a read-only file) or that would overwrite
    the source file being read or the other output (``source``: a file source's path, None for
    cameras and streams). ``names``: how the errors name the two outputs (the CLI's options, or
    the arguments of a library call)."""
    named = [(what, check_output_file(p, what)) for what, p in zip(names, (out, jsonl))
             if p is not None and str(p) != STDOUT]
    for what, p in named:
        if source is not None and _same_file(p, Path(source)):
            raise ConfigError(f"{what} is the source file itself: {p}; write to another path")
    if len(named) == 2 and _same_file(named[0][1], named[1][1]):
        raise ConfigError(f"{names[0]} and {names[1]} are the same file: {named[0][1]}; give them different paths")


class JsonlSink:
    """One JSON object per frame (the frame record), then the summary line; each line reaches
    the file as it is written (no buffer). A line that cannot be written whole (a full disk, a
    closed pipe) is an :class:`~rtliveness.errors.OutputError` naming the file, and is cut back
    off a file the sink opened, so that file holds complete lines only (``"-"``, standard output,
    is never cut: it may hold other writers' lines)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._fh: IO[bytes] | None
        if str(path) == STDOUT:  # ``--jsonl -``: the lines go to standard output (a pipe to jq, say)
            try:
                self._fh = os.fdopen(os.dup(1), "wb", buffering=0)
            except OSError as e:
                raise ConfigError(f"cannot write JSON lines to standard output: {e.strerror or e}; give a file path") from e
            self._name = "standard output"
            self._own = False  # whatever else it holds is not ours to cut back
        else:
            _check_folder(self.path)
            try:
                self._fh = open(self.path, "wb", buffering=0)
            except OSError as e:
                raise ConfigError(f"cannot write JSON lines {self.path}: {e.strerror or e}; check the path") from e
            self._name = str(self.path)
            self._own = True
        self.lines = 0
        self._whole = 0  # bytes of complete lines in the file
        self._failed: OutputError | None = None

    def write_obj(self, obj: dict[str, Any]) -> None:
        if self._fh is None:
            raise ClosedError(f"JSON lines sink {self._name} is closed; open a new JsonlSink")
        if self._failed is not None:
            raise self._failed
        line = (json_line(obj) + "\n").encode("utf-8")
        try:
            done = 0
            while done < len(line):  # an unbuffered write may take part of the line
                done += self._fh.write(memoryview(line)[done:]) or 0
        except OSError as e:
            if self._own:  # a file this sink opened: only its own lines are in it
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fh.fileno(), self._whole)
            advice = ("the reader of the pipe went away" if e.errno == errno.EPIPE
                      else "give it an open standard output or a file" if e.errno == errno.EBADF
                      else "free disk space or choose another --jsonl")
            self._failed = OutputError(f"cannot write JSON lines to {self._name}: {e.strerror or e} after {self.lines} "
                                       f"line{'' if self.lines == 1 else 's'} (written whole); {advice}")
            raise self._failed from None
        self._whole += len(line)
        self.lines += 1

    def write(self, frame: Frame, result: FrameResult) -> None:
        self.write_obj(result.to_json())

    def end(self, summary: dict[str, Any]) -> None:
        if self._failed is None:  # after a failed write the file ends on its last whole line
            self.write_obj({"summary": summary})
            if self._own and self._fh is not None and os.fstat(self._fh.fileno()).st_nlink == 0:
                # the file (or its folder) was removed while running: every line went nowhere
                self._failed = OutputError(f"the JSON lines file {self._name} was removed while running (its "
                                           f"{self.lines} lines are lost); keep its folder, or choose another --jsonl")
                raise self._failed

    def close(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fh.fileno())
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None


class VideoSink:
    """The annotated video: every frame with the overlay drawn, written to a video file.

    The writer opens on the first frame (its size). ``fps`` is the output file's frame rate (None
    or an implausible value: 25); ``meter`` (a :class:`~rtliveness.runtime.progress.FpsMeter`)
    supplies the processing FPS drawn in the corner, when given."""

    def __init__(self, path: str | os.PathLike, fps: float | None, meter=None) -> None:
        self.path = Path(path)
        self.fourcc = fourcc_for(self.path)
        _check_folder(self.path)
        from .sources.base import DEFAULT_FPS, sane_fps

        self.fps = sane_fps(fps) or DEFAULT_FPS
        self.meter = meter
        self._writer = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write_image(self, image_bgr: np.ndarray) -> None:
        import cv2

        h, w = image_bgr.shape[:2]
        if self._writer is None:
            writer = cv2.VideoWriter(ffmpeg_path(self.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not writer.isOpened():
                writer.release()  # never kept: close() has no video to finalise, the cause stays the error
                if self.fourcc != "MJPG" and (max(w, h) > 8191 or min(w, h) < 2):
                    raise ConfigError(f"cannot write video {self.path}: its {self.fourcc} codec takes 2 to 8191 pixels a side, "
                                      f"the frames are {w}x{h}; write an .avi (MJPG) or give a smaller input")
                raise ConfigError(f"cannot write video {self.path} ({self.fourcc}, {w}x{h}); check the path and extension")
            self._writer = writer
            self._size = (w, h)
        elif (w, h) != self._size:
            image_bgr = cv2.resize(image_bgr, self._size)
        self._writer.write(image_bgr)
        self.frames += 1

    def write(self, frame: Frame, result: FrameResult) -> None:
        from .overlay import draw_result

        self.write_image(draw_result(frame.image_bgr, result, None if self.meter is None else self.meter.fps))

    def close(self) -> None:
        """Write the trailer, then prove the file opens, its first frame decodes and it declares
        at least 90 % of the frames written: OpenCV's writer reports no error (a full disk leaves
        an mp4 without its index, an AVI without its frame count), so a file that fails is an
        :class:`~rtliveness.errors.OutputError` (a few ms per run)."""
        if self._writer is None:
            return
        import cv2

        self._writer.release()
        self._writer = None
        cap = cv2.VideoCapture(ffmpeg_path(self.path))
        try:
            ok = cap.isOpened() and cap.read()[0] and cap.get(cv2.CAP_PROP_FRAME_COUNT) >= 0.9 * self.frames
        finally:
            cap.release()
        if not ok:
            raise OutputError(f"the video {self.path} could not be finalised after {self.frames} frames (the disk may "
                              "be full); free disk space or choose another --out")


class WindowSink:
    """An on-screen window with the overlay. ``write`` raises :class:`StopRequested` when the
    user pressed q or Esc."""

    def __init__(self, title: str = "rtliveness", meter=None) -> None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            # OpenCV's Qt/GTK back end aborts the process without a display: refuse up front
            raise ConfigError("cannot open a window: no display (DISPLAY is not set); run with --no-show")
        self.title = title
        self.meter = meter
        self._open = False

    def show(self, image_bgr: np.ndarray) -> bool:
        """Show an image; False when the user pressed q or Esc."""
        import cv2

        try:
            cv2.imshow(self.title, image_bgr)
            self._open = True
            key = cv2.waitKey(1) & 0xFF
        except cv2.error as exc:
            raise ConfigError(f"cannot open a window ({str(exc).strip().splitlines()[-1][:120]}); run with --no-show on a machine without a display") from exc
        return key not in (ord("q"), 27)

    def write(self, frame: Frame, result: FrameResult) -> None:
        from .overlay import draw_result

        if not self.show(draw_result(frame.image_bgr, result, None if self.meter is None else self.meter.fps)):
            raise StopRequested("window closed by the user")

    def close(self) -> None:
        if self._open:
            import cv2

            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error:
                pass
            self._open = False


class MemorySink:
    """Keeps every result (and, with ``keep_images=True``, every frame) in memory."""

    def __init__(self, keep_images: bool = False) -> None:
        self.keep_images = keep_images
        self.results: list[FrameResult] = []
        self.frames: list[Frame] = []
        self.summary: dict[str, Any] | None = None
        self.closed = False

    def write(self, frame: Frame, result: FrameResult) -> None:
        self.results.append(result)
        if self.keep_images:
            self.frames.append(frame)

    def end(self, summary: dict[str, Any]) -> None:
        self.summary = summary

    def close(self) -> None:
        self.closed = True


class CallbackSink:
    """Calls ``fn(result)`` for every frame (the ``on_result`` hook of :func:`process_source`)."""

    def __init__(self, fn: Callable[[FrameResult], None]) -> None:
        self.fn = fn

    def write(self, frame: Frame, result: FrameResult) -> None:
        self.fn(result)

    def close(self) -> None:
        pass
