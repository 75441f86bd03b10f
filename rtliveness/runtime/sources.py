"""Frame sources behind one protocol: video files, cameras, RTSP/HTTP streams, in-memory arrays.

* Files deliver every frame in order and never drop one; decoding runs on a background thread
  a few frames ahead (bounded queue) so it overlaps with inference.
* A still photo (JPEG, PNG, BMP, WebP, TIFF, GIF, PPM, JPEG 2000, AVIF: told by its first bytes, not its name) is a static
  scene: :class:`StillSource` delivers it ``STILL_FRAMES`` times — one full window — so a
  photo gets a verdict like a video does instead of staying ``pending`` after one frame.
* Live sources (camera index, ``rtsp://``/``http(s)://``) read on a background thread and hand
  out the freshest frame, counting the ones they drop. A lost stream is retried with backoff;
  each reconnect increases ``Frame.epoch`` so the pipeline clears its windows. No substitute
  frame (black, repeated) is ever produced. After ``give_up_s`` without frames the iterator
  raises :class:`StreamLostError`. Before the first open of a network URL a TCP connect to its
  host and port tells a refused connection, an unknown host or a host that does not answer
  apart at once (one line), instead of leaving it to FFmpeg's open timeout.
* File and live sources also have ``frames_until(deadline)``: the same frames, but the wait for
  the next one never passes ``deadline`` (``time.monotonic()``), so a caller's timeout holds
  even when no frame comes (a frozen camera); :func:`~rtliveness.runtime.decision.decide` uses it.

Every source is a context manager; ``close()`` ends its thread (joined with a timeout).
"""

from __future__ import annotations

import functools
import os
import queue
import re
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence
from urllib.parse import urlsplit

import cv2
import numpy as np

from ..config import StreamConfig
from ..errors import ClosedError, ConfigError, SourceOpenError, StreamLostError
from ..model.dims import WINDOW
from ..types import Frame, as_bgr

__all__ = [
    "FrameSource",
    "FileSource",
    "StillSource",
    "STILL_FRAMES",
    "is_still_image",
    "open_file",
    "LiveSource",
    "ArraySource",
    "open_source",
    "parse_source",
    "SourceEvent",
]

_STREAM_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")

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


def parse_source(spec: str | int) -> tuple[str, str | int]:
    """Classify a SOURCE argument: ('camera', index) | ('stream', url) | ('file', path)."""
    if isinstance(spec, bool) or spec is None:
        raise ConfigError(f"invalid source {spec!r}: give a camera index (0, 1 …), a URL or a file path")
    if isinstance(spec, int):
        if spec < 0:  # OpenCV's "any camera" (-1) crashes some capture back ends: refuse it here
            raise ConfigError(f"camera index must be >= 0, got {spec}")
        return "camera", spec
    s = str(spec).strip()
    if not s:
        raise ConfigError("empty source: give a camera index (0, 1 …), a URL or a file path")
    if s.lstrip("-").isdigit():
        idx = int(s)
        if idx < 0:
            raise ConfigError(f"camera index must be >= 0, got {idx}")
        return "camera", idx
    if s.lower().startswith(_STREAM_PREFIXES):
        problem = _url_problem(s)
        if problem is not None:
            raise ConfigError(f"malformed stream URL {s!r}: {problem}; e.g. rtsp://camera.local:554/stream")
        return "stream", s
    return "file", s


#: schemes whose URL names a host to connect to (``udp://@:5004`` and ``tcp://:5000?listen=1``
#: are FFmpeg's listening forms, without one)
_HOST_SCHEMES = ("rtsp", "rtsps", "http", "https", "rtmp")


def _url_problem(url: str) -> str | None:
    """What is wrong with a stream URL's host and port (None: nothing). Read by hand, not with
    ``urlsplit``, which also judges brackets in a password that FFmpeg accepts."""
    scheme, rest = url.split("://", 1)
    hostport = re.split(r"[/?#]", rest, maxsplit=1)[0].rsplit("@", 1)[-1]
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            return "an IPv6 host needs its closing ]"
        host, port = hostport[1:end], hostport[end + 1:]
        if port and not port.startswith(":"):
            return f"unexpected {port!r} after the IPv6 host"
        port = port[1:]
    else:
        host, _, port = hostport.partition(":")
    if not host and scheme.lower() in _HOST_SCHEMES:
        return "no host"
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        return f"port {port!r} is not a number in 1..65535"
    return None


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


#: frames a still photo is delivered as: one full window of the SpoofModel (``ModelMeta.window``)
STILL_FRAMES = WINDOW

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
_BMP_HEADER_SIZES = (b"\x0c", b"\x28", b"\x38", b"\x40", b"\x6c", b"\x7c")  # the DIB header's size, first byte
_JP2_MAGIC = (b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")  # JP2 box, raw J2K codestream
#: ``ftyp`` major brands of a single picture (AVIF, HEIC, generic HEIF); ``avis`` / ``msf1`` /
#: ``hevc`` are image sequences, played as video like any MP4
_HEIF_STILL_BRANDS = (b"avif", b"heic", b"heix", b"heim", b"heis", b"mif1")


def is_still_image(path: str | os.PathLike) -> bool:
    """Whether a file is a still photo (JPEG, PNG, BMP, WebP, TIFF, GIF, PPM/PGM/PBM, JPEG 2000,
    AVIF, HEIC), told by its first bytes so that an upload without a name, or a misnamed file, is
    classified right. Several pictures in one file — a raw MJPEG stream (JPEGs back to back, as IP
    cameras send them), an animated PNG or GIF, an AVIF or HEIF image sequence — are a video, not
    a photo. (A HEIC photo is a photo: :class:`StillSource` then says in one line that it cannot
    decode it, rather than a video decoder failing on it.)"""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
            if head.startswith(b"\xff\xd8\xff"):  # a second picture after the first one's end: MJPEG
                return not _contains(fh, head, b"\xff\xd9\xff\xd8")
            if head.startswith(b"\x89PNG\r\n\x1a\n"):  # APNG announces its frames before the image data
                return _png_chunk_before_idat(fh) != b"acTL"
    except OSError:
        return False
    if head[:2] == b"BM":
        return head[6:10] == b"\x00\x00\x00\x00" and head[14:15] in _BMP_HEADER_SIZES
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return not _gif_is_animated(path)
    if head[4:8] == b"ftyp":  # ISO base media: an MP4 / MOV video, or an AVIF / HEIF picture
        if head[8:12] == b"avif":  # a photo where Pillow reads AVIF (11.2+); else the video decoder, as before
            return _pillow_reads_avif()
        return head[8:12] in _HEIF_STILL_BRANDS
    return (head.startswith(_TIFF_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
            or head.startswith(_JP2_MAGIC) or _is_netpbm(head))


def _contains(fh, start: bytes, needle: bytes, chunk: int = 1 << 20) -> bool:
    """Whether ``needle`` occurs in ``start`` + the rest of ``fh``, read a chunk at a time and
    stopping at the first occurrence (a long MJPEG recording is not read whole)."""
    tail = start
    while True:
        if needle in tail:
            return True
        block = fh.read(chunk)
        if not block:
            return False
        tail = tail[-(len(needle) - 1):] + block


def _is_netpbm(head: bytes) -> bool:
    """PBM / PGM / PPM: ``P1``..``P6``, whitespace, then the width (or a ``#`` comment) — so a
    text file that happens to start with "P1 " is not a picture."""
    if head[:1] != b"P" or head[1:2] not in (b"1", b"2", b"3", b"4", b"5", b"6") or not head[2:3].isspace():
        return False
    rest = head[2:].lstrip()
    return rest[:1].isdigit() or rest[:1] == b"#"


@functools.lru_cache(maxsize=1)
def _pillow_reads_avif() -> bool:
    import warnings

    from PIL import features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an older Pillow warns about an unknown feature name
        try:
            return bool(features.check("avif"))
        except Exception:
            return False


def _gif_is_animated(path: str | os.PathLike) -> bool:
    """Whether a GIF holds more than one picture (Pillow stops at the second one)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return bool(getattr(im, "is_animated", False))
    except Exception:  # unreadable: a photo, which StillSource then refuses in one line
        return False


def _png_chunk_before_idat(fh) -> bytes | None:
    """``b"acTL"`` when a PNG announces animation before its first image data, else None; reads
    the chunk headers only, from just after the 8-byte signature."""
    fh.seek(8)
    while True:
        header = fh.read(8)
        if len(header) < 8:
            return None
        length, kind = int.from_bytes(header[:4], "big"), header[4:]
        if kind in (b"acTL", b"IDAT"):
            return b"acTL" if kind == b"acTL" else None
        fh.seek(length + 4, os.SEEK_CUR)  # the data and its CRC


def check_file(p: Path, what: str = "video file") -> None:
    """One clear :class:`SourceOpenError` for a path that is not a readable, non-empty file (the
    one place of this rule: ``run``, the API and the fleet driver's early check)."""
    if not p.exists():
        scheme = str(p).split(":/", 1)[0].lower() + "://"
        if ":/" in str(p) and scheme in _STREAM_PREFIXES:  # rtsp:/host/x: Path() folds the URL's "//"
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


def _decode_with_pillow(path: Path) -> np.ndarray | None:
    """A (H, W, 3) uint8 BGR array of the picture's first frame, EXIF orientation applied, or None."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except Exception:
        return None
    return np.ascontiguousarray(rgb[:, :, ::-1])


class StillSource(_SourceBase):
    """A still photo as a static scene: the same image ``frames`` times (one full window by
    default), so it is detected, tracked and scored exactly as a video that does not move. The
    image is read-only: every frame is the same array."""

    def __init__(self, path: str | os.PathLike, frames: int = STILL_FRAMES, fps: float = DEFAULT_FPS) -> None:
        if frames < 1:
            raise ConfigError(f"a still photo is delivered as frames >= 1 times, got {frames}")
        p = Path(path)
        self.name = str(p)
        check_file(p, "image file")
        bad = f"cannot decode image file {p}: corrupt or an unsupported format; save it as JPEG or PNG and retry"
        # Pillow checks the whole file first, quietly: OpenCV's JPEG decoder prints its own
        # complaints about a truncated file on stderr, which would break the one-line error
        import warnings

        from PIL import Image, UnidentifiedImageError

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(p) as im:
                    im.load()
        except Image.DecompressionBombError:
            pass  # more pixels than Pillow checks (a 200 MP phone photo): OpenCV decodes it below
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
            raise SourceOpenError(bad) from None
        image = cv2.imread(str(p), cv2.IMREAD_COLOR)  # the decoder every other frame goes through; EXIF orientation applied
        if image is None:  # an OpenCV without this codec (GIF before opencv-python 4.11): Pillow decodes it
            image = _decode_with_pillow(p)
        if image is None:
            raise SourceOpenError(bad)
        image.setflags(write=False)
        self._image = image
        self.fps = float(fps)
        self.frame_count = int(frames)
        self.size = (int(image.shape[1]), int(image.shape[0]))

    def __iter__(self) -> Iterator[Frame]:
        return self.frames_until(None)

    def frames_until(self, deadline: float | None) -> Iterator[Frame]:
        """The photo ``frame_count`` times; ends early (no error) once ``time.monotonic()``
        reaches ``deadline``."""
        for i in range(self.frame_count):
            if deadline is not None and time.monotonic() >= deadline:
                return
            yield Frame(i, self._image, i / self.fps)

    def close(self) -> None:
        pass


def open_file(path: str | os.PathLike, still_frames: int = STILL_FRAMES) -> "FileSource | StillSource":
    """A local file: a :class:`StillSource` for a still photo, else a :class:`FileSource`."""
    p = Path(path)
    if p.is_file() and is_still_image(p):
        return StillSource(p, frames=still_frames)
    return FileSource(p)


_END = object()


class FileSource(_SourceBase):
    """A video file (or a finite video behind an http(s) URL, opened by :func:`open_source`):
    every frame, in order, decoded ``prefetch`` frames ahead on a thread."""

    def __init__(self, path: str | os.PathLike, prefetch: int = 4, capture: "cv2.VideoCapture | None" = None) -> None:
        p = Path(path) if capture is None else path
        self.name = str(p)
        if capture is None:
            check_file(p, "video file")
        cap = capture if capture is not None else cv2.VideoCapture(str(p))
        if not cap.isOpened():
            cap.release()
            raise SourceOpenError(f"cannot decode video file {p}: not a video OpenCV can read, or corrupt (a recording "
                                  "cut off before it was finished has no index); convert it to mp4 (H.264) and retry")
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceOpenError(f"cannot decode any frame of video file {p}: the file is truncated or corrupt")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = sane_fps(fps) or DEFAULT_FPS
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = n if n > 0 else None
        self.size = (int(first.shape[1]), int(first.shape[0]))
        self._cap = cap
        self._first = first
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.decode_seconds = 0.0

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
            frame = self._first
            self._first = None
            while frame is not None and not self._stop.is_set():
                if not self._put(frame):
                    return
                t0 = time.perf_counter()
                ok, frame = self._cap.read()
                self.decode_seconds += time.perf_counter() - t0
                if not ok:
                    frame = None
        except BaseException as exc:  # reported to the consumer, never swallowed
            self._error = exc
        finally:
            self._put_end()

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
        self._thread = threading.Thread(target=self._reader, name=f"rtliveness-file-{id(self):x}", daemon=True)
        self._thread.start()
        i = 0
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
            yield Frame(i, item, i / self.fps)
            i += 1
        if self._error is not None:
            raise SourceOpenError(f"error while decoding {self.name} at frame {i}: {self._error}")

    def close(self) -> None:
        self._stop.set()
        t = self._thread
        if t is not None:
            # drain so a blocked put can finish
            while t.is_alive():
                try:
                    while True:
                        self._queue.get_nowait()
                except queue.Empty:
                    pass
                t.join(timeout=0.1)
        self._cap.release()


class LiveSource(_SourceBase):
    """A camera index or a network stream, read on a background thread; freshest frame wins."""

    is_live = True

    def __init__(self, spec: str | int, config: StreamConfig | None = None,
                 on_event: SourceEvent | None = None,
                 opener: Callable[[str | int, StreamConfig], "cv2.VideoCapture"] | None = None) -> None:
        self.spec = spec
        self.config = config or StreamConfig()
        self.name = f"camera {spec}" if isinstance(spec, int) else str(spec)
        self._on_event = on_event
        self._opener = opener or _open_capture
        self._cond = threading.Condition()
        self._latest: tuple[np.ndarray, float, int] | None = None
        self._seq = 0
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._ended = False
        self.dropped = 0
        self.reconnects = 0
        self._t0 = time.monotonic()
        if opener is None and isinstance(spec, str):
            _probe_stream(spec, self.config.open_timeout_s)  # a refused port fails now, in one line
        cap = self._opener(spec, self.config)
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            raise SourceOpenError(self._open_failure_message())
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = sane_fps(fps)
        self._cap = cap
        self._thread = threading.Thread(target=self._reader, name=f"rtliveness-live-{id(self):x}", daemon=True)
        self._thread.start()

    def _open_failure_message(self) -> str:
        if isinstance(self.spec, int):
            return f"camera {self.spec} did not open: no such camera or it is busy; check the index (0 is the first camera) and that no other program uses it"
        return (f"cannot open stream {self.spec} within {self.config.open_timeout_s:g} s: unreachable, wrong path "
                "or unsupported protocol; check the URL and that the camera/server is up")

    def _emit(self, event: str, detail: str) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event, detail)
            except Exception:  # a host callback must not kill the reader thread
                pass

    def _publish(self, image: np.ndarray, epoch: int) -> None:
        with self._cond:
            if self._latest is not None:
                self.dropped += 1  # the consumer never saw the previous frame
            self._latest = (image, time.monotonic() - self._t0, epoch)
            self._seq += 1
            self._cond.notify_all()

    def _gave_up(self) -> StreamLostError:
        self._emit("gave_up", self.name)
        return StreamLostError(
            f"stream {self.name} was lost and did not come back within {self.config.give_up_s:g} s; "
            "check the camera/server, or raise the give-up time")

    def _reader(self) -> None:
        epoch = 0
        cap = self._cap
        last_frame_at = time.monotonic()  # the give-up clock runs from the last real frame
        try:
            while not self._stop.is_set():
                ok, image = cap.read() if cap is not None else (False, None)
                if ok and image is not None:
                    last_frame_at = time.monotonic()
                    self._publish(image, epoch)
                    continue
                if self._stop.is_set():
                    break
                # the stream is lost: never hand out a substitute frame; reconnect with backoff
                if cap is not None:
                    cap.release()
                    cap = None
                if not self.config.reconnect:
                    raise StreamLostError(f"stream {self.name} ended or was lost (reconnect disabled)")
                if time.monotonic() - last_frame_at > self.config.give_up_s:
                    raise self._gave_up()  # reopened, but no frame came: do not loop forever
                self._emit("lost", self.name)
                delay = self.config.backoff_initial_s
                while not self._stop.is_set():
                    left = self.config.give_up_s - (time.monotonic() - last_frame_at)
                    if left <= 0:
                        raise self._gave_up()
                    if self._stop.wait(min(delay, left)):
                        break
                    delay = min(self.config.backoff_max_s, delay * 2)
                    if time.monotonic() - last_frame_at > self.config.give_up_s:
                        raise self._gave_up()
                    try:
                        cand = self._opener(self.spec, self.config)
                    except Exception as exc:  # reported with its reason, then retried like a failed open
                        reason = (str(exc).strip().splitlines() or [""])[0][:200]
                        self._emit("open_failed", f"{self.name}: {type(exc).__name__}: {reason}")
                        cand = None
                    if cand is not None and cand.isOpened():
                        cap = cand
                        epoch += 1
                        self.reconnects += 1
                        with self._cond:
                            self._latest = None  # nothing from before the gap survives
                        self._emit("reconnected", self.name)
                        break
                    if cand is not None:
                        cand.release()
        except BaseException as exc:
            self._error = exc
        finally:
            if cap is not None:
                cap.release()
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def __iter__(self) -> Iterator[Frame]:
        return self.frames_until(None)

    def frames_until(self, deadline: float | None) -> Iterator[Frame]:
        """The freshest frames, as iteration gives them, but the iteration ends (no error) once
        ``time.monotonic()`` reaches ``deadline``, even when no frame arrives (a frozen camera
        or a stalled stream, which alone would end only at ``give_up_s``). ``None``: no deadline."""
        i = 0
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                return
            with self._cond:
                while self._latest is None and not self._ended and not self._stop.is_set():
                    wait = 0.1
                    if deadline is not None:
                        wait = min(wait, deadline - time.monotonic())
                        if wait <= 0:
                            return
                    self._cond.wait(timeout=wait)
                if self._latest is None:
                    break
                image, ts, epoch = self._latest
                self._latest = None
            yield Frame(i, image, ts, epoch)
            i += 1
        if self._error is not None and not self._stop.is_set():
            err = self._error
            if isinstance(err, StreamLostError):
                raise err
            raise StreamLostError(f"stream {self.name} failed: {err}") from err

    def close(self) -> None:
        """Stop and join the reader. A read or an open in progress is bounded by the stream's
        timeouts (OpenCV cannot interrupt them), so the join waits for the longer of the two."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=max(self.config.open_timeout_s, 3 * self.config.read_timeout_s) + 5.0)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


#: default TCP ports of the URL schemes probed before the first open
_PROBE_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443, "rtmp": 1935}


def _probe_stream(url: str, timeout_s: float) -> None:
    """Fail at once, in one line, when a stream URL's server cannot be reached.

    A TCP connect to the URL's host and port (for ``rtsp``, ``rtsps``, ``http``, ``https`` and
    ``rtmp``) before FFmpeg gets the URL: a refused connection or an unknown host raises
    :class:`SourceOpenError` immediately; a host that does not answer, after ``timeout_s`` (the
    open timeout). Anything else (other schemes, a URL without a host or with a malformed port,
    http(s) behind an ``http_proxy``) is left to FFmpeg.
    """
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port or _PROBE_PORTS.get(scheme)
    except ValueError:  # a malformed port: FFmpeg's own failure says it
        return
    if scheme not in _PROBE_PORTS or not host or not port:
        return
    if scheme in ("http", "https") and (os.environ.get("http_proxy") or os.environ.get("HTTP_PROXY")):
        return  # FFmpeg connects to the proxy, not to the host
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    problem = tcp_probe(host, port, timeout_s)
    if problem is None:
        return  # something listens: the stream itself is FFmpeg's business
    if problem == "unknown host":
        raise SourceOpenError(f"cannot open stream {url}: unknown host {host!r}; check the host name in the URL")
    if problem == "connection refused":
        raise SourceOpenError(f"cannot open stream {url}: connection refused by {where} (nothing listens on that port); "
                              "check the port in the URL and that the camera/server is running")
    if problem == "no answer":
        raise SourceOpenError(f"cannot open stream {url}: no answer from {where} within {timeout_s:g} s; "
                              "check the host address, the network and any firewall")
    raise SourceOpenError(f"cannot open stream {url}: cannot connect to {where} ({problem}); check the URL and the network")


def tcp_probe(host: str, port: int, timeout_s: float) -> str | None:
    """Try a TCP connection to ``host:port`` within ``timeout_s``: None when something accepts
    it, else why not — ``"unknown host"``, ``"connection refused"``, ``"no answer"`` or the
    system's reason. Used for stream URLs and for cluster addresses."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return "unknown host"
    deadline = time.monotonic() + timeout_s
    last: OSError | None = None
    for family, kind, proto, _, addr in infos:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            sock.connect(addr)
            return None
        except OSError as exc:
            last = exc
        finally:
            sock.close()
    if isinstance(last, ConnectionRefusedError):
        return "connection refused"
    if last is None or isinstance(last, TimeoutError):
        return "no answer"
    return last.strerror or type(last).__name__


def _open_capture(spec: str | int, config: StreamConfig) -> cv2.VideoCapture:
    if isinstance(spec, int):
        return cv2.VideoCapture(spec)
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(config.open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(config.read_timeout_s * 1000),
    ]
    return cv2.VideoCapture(spec, cv2.CAP_FFMPEG, params)


def open_source(spec: str | int, stream: StreamConfig | None = None,
                on_event: SourceEvent | None = None) -> FileSource | StillSource | LiveSource:
    """Open SOURCE: an integer is a camera index; ``rtsp://``/``http(s)://`` are streams;
    anything else is a file path (a video, or a still photo: see :func:`open_file`)."""
    kind, value = parse_source(spec)
    if kind == "file":
        return open_file(value)
    if kind == "stream" and str(value).lower().startswith(("http://", "https://")):
        # a finite video file served over HTTP has a frame count: read it like a file (every
        # frame, end at its end) instead of "reconnecting" to replay it forever
        cfg = stream or StreamConfig()
        _probe_stream(str(value), cfg.open_timeout_s)
        cap = _open_capture(value, cfg)
        if cap.isOpened() and (cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) > 0:
            return FileSource(value, capture=cap)
        # a live stream: hand this capture over (a second open would double the wait when it
        # failed, and a second connection for nothing when it worked); reconnects open anew
        first = [cap]

        def opener(spec: str | int, config: StreamConfig) -> cv2.VideoCapture:
            return first.pop() if first else _open_capture(spec, config)

        return LiveSource(value, cfg, on_event=on_event, opener=opener)
    return LiveSource(value, stream, on_event=on_event)
