"""Video files: the one check of a file path, and every frame of a video decoded ahead on a thread."""

from __future__ import annotations

import math
import os
import queue
import threading
import time
import weakref
from pathlib import Path
from typing import Iterator

import cv2

from ...errors import ClosedError, SourceOpenError
from ...redact import redact_url
from ...videopath import ffmpeg_path
from ...types import Frame
from .base import DEFAULT_FPS, _SourceBase, sane_fps
from .spec import STREAM_PREFIXES


def check_file(p: Path, what: str = "video file") -> None:
    """One clear :class:`SourceOpenError` for a path that is not a readable, non-empty file (the
    one place of this rule: ``run``, the API and the fleet driver's early check)."""
    if not p.exists():
        scheme = str(p).split(":/", 1)[0].lower() + "://"
        if ":/" in str(p) and scheme in STREAM_PREFIXES:  # rtsp:/host/x: Path() folds the URL's "//"
            raise SourceOpenError(f"{what} not found: {p}; a stream URL needs two slashes, e.g. {scheme}host:port/path")
        raise SourceOpenError(f"{what} not found: {p}; check the path")
    if p.is_dir():
        raise SourceOpenError(f"source is a folder, not {'an' if what[0] in 'aeiou' else 'a'} {what}: {p}; give one video or photo file")
    if p.stat().st_size == 0:
        raise SourceOpenError(f"{what} is empty (0 bytes): {p}; give a file that holds frames (was its recording finished?)")
    try:
        with open(p, "rb") as fh:
            fh.read(1)
    except PermissionError:
        raise SourceOpenError(f"cannot read {p}: permission denied; check the file's permissions") from None
    except OSError as e:
        raise SourceOpenError(f"cannot read {p}: {e.strerror or e}; check the file") from None


_END = object()
#: failed reads in a row a local video file may have (a damaged stretch mid-file) before its end is assumed
MAX_BAD_READS = 25


def _position_ms(cap: "cv2.VideoCapture") -> float:
    """The presentation time (ms) of the frame ``cap`` decoded last (NaN where it has none)."""
    try:
        return float(cap.get(cv2.CAP_PROP_POS_MSEC))
    except (cv2.error, TypeError, ValueError):
        return float("nan")


def media_time(position_ms: float, previous: float | None, fps: float) -> float:
    """A file frame's ``time``: its presentation time in seconds (variable frame rate phone
    recordings; frames skipped over damaged data, a damaged start included, show as a gap);
    where the container gives no usable time (missing, negative, or not after the previous
    frame's), the previous time plus one frame at ``fps`` (0 for the first frame): time never
    goes backwards. ``previous`` is ``None`` for the first frame."""
    t = position_ms / 1000.0
    if previous is None:
        return t if math.isfinite(t) and t >= 0.0 else 0.0
    if math.isfinite(t) and t > previous:
        return t
    return previous + 1.0 / fps


def open_video(p: Path) -> "cv2.VideoCapture":
    """``p`` opened by FFmpeg. FFmpeg picks its reader by the file's suffix before its bytes: a
    raw MJPEG stream (JPEGs back to back, as IP cameras send and some tools save them) named
    ``.jpg`` would be read as its first picture alone, so such a file is opened under a
    ``.mjpeg`` name (a symbolic link, removed once FFmpeg has the file open)."""
    if p.suffix.lower() in (".mjpeg", ".mjpg"):
        return cv2.VideoCapture(ffmpeg_path(p))
    try:
        with open(p, "rb") as fh:
            jpeg = fh.read(3) == b"\xff\xd8\xff"
    except OSError:
        jpeg = False
    if not jpeg:
        return cv2.VideoCapture(ffmpeg_path(p))
    import tempfile

    try:
        with tempfile.TemporaryDirectory(prefix="rtliveness-mjpeg-", ignore_cleanup_errors=True) as tmp:
            link = Path(tmp) / "stream.mjpeg"
            link.symlink_to(p.resolve())
            return cv2.VideoCapture(str(link))
    except OSError:  # no usable temp folder, or no symbolic links (some Windows set-ups): the name as it is
        return cv2.VideoCapture(ffmpeg_path(p))


#: the longest a source nobody closed, when it is collected, waits for its decoder thread (a local
#: file's read takes milliseconds; a URL's is bounded by its read timeout)
DROP_JOIN_S = 10.0


def _stop_decoder(stop: threading.Event, q: "queue.Queue", threads: list, cap: "cv2.VideoCapture",
                  timeout: float | None) -> None:
    """Stop a :class:`FileSource`'s decoder thread (its stop flag; the queue drained so a blocked
    put returns), join it (at most ``timeout`` seconds; None: until it ends), then release the
    capture, only once no thread reads it. Holds no reference to the source: it is what
    :meth:`FileSource.close` does, and what runs when a source nobody closed is collected or
    the interpreter exits (a decoder thread still inside FFmpeg then aborted the process:
    "terminate called without an active exception", exit code 134)."""
    stop.set()
    end = None if timeout is None else time.monotonic() + timeout
    for t in threads:
        if t is threading.current_thread():  # collected by its own thread's last reference: it is done reading
            continue
        while t.is_alive() and (end is None or time.monotonic() < end):
            try:
                while True:
                    q.get_nowait()
            except queue.Empty:
                pass
            t.join(timeout=0.1)
    if not any(t.is_alive() and t is not threading.current_thread() for t in threads):
        cap.release()


#: the FOURCC OpenCV reports for FFmpeg's text-art codec (its "tty" demuxer, chosen by a text file's suffix)
_TEXT_ART = int.from_bytes(b"ansi", "little")


class FileSource(_SourceBase):
    """A video file (or a finite video behind an http(s) URL, opened by :func:`open_source`):
    every frame, in order, decoded ``prefetch`` frames ahead on a thread."""

    def __init__(self, path: str | os.PathLike, prefetch: int = 4, capture: "cv2.VideoCapture | None" = None,
                 remote: bool = False) -> None:
        """``capture``: ``path`` already opened (by :func:`open_video`, or for a URL by
        :func:`~rtliveness.runtime.sources.open_source`), so it is opened once; ``remote``: ``path``
        is an http(s) URL, not a local file."""
        p = path if remote else Path(path)
        self.name = redact_url(str(p)) if remote else str(p)  # a URL's password is not a name
        if not remote:
            check_file(p, "video file")
        cap = capture if capture is not None else open_video(p)
        if not cap.isOpened():
            cap.release()
            raise SourceOpenError(f"cannot decode video file {p}: not a video OpenCV can read, or corrupt (a recording "
                                  "cut off before it was finished has no index); convert it to mp4 (H.264) and retry")
        if int(cap.get(cv2.CAP_PROP_FOURCC) or 0) & 0xFFFFFFFF == _TEXT_ART:
            # FFmpeg renders a text file (.txt, .nfo, .asc, ...) as "ANSI art" frames: no camera made them
            cap.release()
            raise SourceOpenError(f"not a video: {p} is a text file (FFmpeg would draw its characters as frames); "
                                  "give a video or photo file")
        self._cap = cap
        # a local file's damaged stretch (a bad block, a lost packet) fails a few reads and the frames
        # after it decode again; over a network a failed read is the end (a retry may wait for a timeout)
        self._bad_reads_allowed = 0 if remote else MAX_BAD_READS
        self.gaps = 0  # damaged stretches skipped (frames after them were decoded)
        self.gap_reads = 0  # the failed reads in those stretches: about the frames they cost
        self._stop = threading.Event()
        self.decode_seconds = 0.0
        self._first = self._next()  # (image, position in ms): past a damaged start too
        if self._first is None:
            cap.release()
            if remote:  # FFmpeg read its header, then could not seek to the frames
                raise SourceOpenError(f"cannot decode any frame of video {p}: truncated or corrupt, or an mp4 whose "
                                      "index is at its end on a server without byte ranges (HTTP Range); download "
                                      "it and give the file, or serve it from a server that answers Range requests")
            raise SourceOpenError(f"cannot decode any frame of video file {p}: the file is truncated or corrupt")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = sane_fps(fps) or DEFAULT_FPS
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = n if n > 0 else None
        first = self._first[0]
        self.size = (int(first.shape[1]), int(first.shape[0]))
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
        self._thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []  # the decoder thread, once started (for _stop_decoder)
        self._error: BaseException | None = None
        # a source dropped or left open at exit stops its decoder and releases the capture
        self._finalizer = weakref.finalize(self, _stop_decoder, self._stop, self._queue, self._threads, cap, DROP_JOIN_S)
        self._finalizer.atexit = False  # at exit, base._close_left_open closes it with the others (one exit path)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _reader(self) -> None:
        try:
            item = self._first
            self._first = None
            while item is not None and not self._stop.is_set():
                if not self._put(item):
                    return
                item = self._next()
        except BaseException as exc:  # reported to the consumer, never swallowed
            self._error = exc
        finally:
            self._put_end()

    def _next(self) -> tuple | None:
        """The next decodable frame and its position (ms), past at most ``_bad_reads_allowed``
        failed reads in a row; ``None`` at the end."""
        bad = 0
        while not self._stop.is_set():
            t0 = time.perf_counter()
            ok, frame = self._cap.read()
            self.decode_seconds += time.perf_counter() - t0
            if ok and frame is not None:
                self.gaps += bad > 0
                self.gap_reads += bad
                return frame, _position_ms(self._cap)
            bad += 1
            if bad > self._bad_reads_allowed:
                return None
        return None

    def _put_end(self) -> None:
        # the end marker must arrive even if the consumer is slow; bounded by the stop flag
        while True:
            try:
                self._queue.put(_END, timeout=0.1)
                return
            except queue.Full:
                if self._stop.is_set():
                    return

    def __iter__(self) -> Iterator[Frame]:
        return self.frames_until(None)

    def frames_until(self, deadline: float | None) -> Iterator[Frame]:
        """The frames in order, as iteration gives them, but the iteration ends (no error) once
        ``time.monotonic()`` reaches ``deadline``, even while waiting for the decoder.
        ``None``: no deadline. A file source can be iterated once either way."""
        if self._thread is not None:
            raise ClosedError("a FileSource can be iterated once; open the file again")
        if self._stop.is_set():  # it read as an empty video: a batch job took it for a success
            raise ClosedError(f"the FileSource of {self.name} is closed; open the file again")
        self._thread = threading.Thread(target=self._reader, name=f"rtliveness-file-{id(self):x}", daemon=True)
        self._threads.append(self._thread)
        self._thread.start()
        i, t = 0, 0.0
        try:
            while True:
                if deadline is None:
                    item = self._queue.get()
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return
                    try:
                        item = self._queue.get(timeout=left)
                    except queue.Empty:
                        return
                if item is _END:
                    break
                image, position_ms = item
                t = media_time(position_ms, t if i else None, self.fps)
                yield Frame(i, image, t)
                i += 1
            if self._error is not None:
                raise SourceOpenError(f"error while decoding {self.name} at frame {i}: {self._error}")
        finally:
            # the iteration ended, or was left (a break, an error, the iterator closed or
            # collected): nobody takes more frames, so the decoder stops instead of waiting on a
            # full queue for ever (a thread per unclosed source, and an abort at exit)
            self._stop.set()

    def close(self) -> None:
        """Stop the decoder thread, wait for it, release the capture. Idempotent."""
        _stop_decoder(self._stop, self._queue, self._threads, self._cap, None)
        self._finalizer.detach()  # done: nothing left for the collector or the exit
