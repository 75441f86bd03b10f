"""Still photos: telling one from a video by its first bytes, and delivering it as a static scene."""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ...errors import ConfigError, SourceOpenError
from ...model.dims import WINDOW
from ...types import Frame, over_white
from .base import DEFAULT_FPS, _SourceBase
from .files import check_file

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
    a photo; a JPEG whose header declares the pictures after it (MPF, an Ultra HDR gain map) is a
    photo, and so is one followed by one smaller picture, the last in the file (a camera's preview
    appended without such a header): a stream's pictures go on, all of one size. (A HEIC photo is a photo:
    :class:`StillSource` then says in one line that it cannot decode it, rather than a video
    decoder failing on it.)"""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
            if head.startswith(b"\xff\xd8\xff"):
                # a phone's photo may carry a second picture after the first (an Ultra HDR or
                # Apple gain map, an MPF multi-picture file): its header says so. Otherwise a
                # second picture after the first one's end is a raw MJPEG stream
                if _jpeg_declares_pictures(fh):
                    return True
                fh.seek(len(head))
                second = _find(fh, head, b"\xff\xd9\xff\xd8")
                return second < 0 or _is_appended_preview(fh, second + 2)
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


#: header segments that make a JPEG's appended pictures part of one photo: MPF (CIPA DC-007,
#: in APP2) and the XMP container of Ultra HDR / gain-map photos (in APP1)
_MULTI_PICTURE_TAGS = ((0xE2, b"MPF\x00"), (0xE1, b"GContainer"), (0xE1, b"hdrgm:"), (0xE1, b"HDRGainMap"))


def _jpeg_segments(fh, offset: int, most: int = 256):
    """The header segments of the JPEG that starts at ``offset`` in ``fh``, up to its first scan:
    ``(marker, body size)`` with ``fh`` at the body (read it or not: the walk goes on past it). A
    broken file, or more than ``most`` segments, ends the walk."""
    fh.seek(offset + 2)
    for _ in range(most):
        if fh.read(1) != b"\xff":
            return
        code = fh.read(1)
        for _ in range(64):  # fill bytes may precede a marker's code
            if code != b"\xff":
                break
            code = fh.read(1)
        length = fh.read(2)
        if not code or len(length) < 2 or code[0] in (0xD9, 0xDA, 0xFF):
            return
        size = int.from_bytes(length, "big") - 2
        if size < 0:
            return
        body = fh.tell()
        yield code[0], size
        fh.seek(body + size)


def _jpeg_declares_pictures(fh) -> bool:
    """Whether a JPEG's header segments declare pictures stored after the primary one
    (:data:`_MULTI_PICTURE_TAGS`)."""
    for marker, size in _jpeg_segments(fh, 0, most=64):
        if marker in (0xE1, 0xE2):
            body = fh.read(size)
            if any(marker == m and tag in body for m, tag in _MULTI_PICTURE_TAGS):
                return True
    return False


def _is_appended_preview(fh, second: int) -> bool:
    """Whether the JPEG at ``second`` (after the first one's end) is a preview appended to a photo:
    the last picture in the file, both sizes readable, and smaller than the first. A stream's
    pictures go on, and are of one size (or change size: still a stream)."""
    first, other = _jpeg_size(fh, 0), _jpeg_size(fh, second)
    if first is None or other is None or other == first or other[0] > first[0] or other[1] > first[1]:
        return False
    fh.seek(second + 2)
    return not _contains(fh, b"", b"\xff\xd9\xff\xd8")


def _jpeg_size(fh, offset: int) -> tuple[int, int] | None:
    """(height, width) from the frame header of the JPEG that starts at ``offset`` in ``fh``
    (None where its header segments end, or break, before one)."""
    for marker, _ in _jpeg_segments(fh, offset):
        if marker in _SOF_MARKERS:
            body = fh.read(5)  # precision, height, width
            return (int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big")) if len(body) == 5 else None
    return None


#: the start-of-frame markers (baseline, extended, progressive, lossless; Huffman or arithmetic)
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _find(fh, start: bytes, needle: bytes, chunk: int = 1 << 20) -> int:
    """Where ``needle`` first occurs in ``start`` + the rest of ``fh`` (``start`` being the
    file's first bytes and ``fh`` positioned after them), or -1; read a chunk at a time and
    stopping at the first occurrence (a long MJPEG recording is not read whole)."""
    tail, tail_at = start, 0  # tail_at: the file offset of tail[0]
    while True:
        at = tail.find(needle)
        if at >= 0:
            return tail_at + at
        block = fh.read(chunk)
        if not block:
            return -1
        keep = tail[-(len(needle) - 1):]
        tail_at += len(tail) - len(keep)
        tail = keep + block


def _contains(fh, start: bytes, needle: bytes, chunk: int = 1 << 20) -> bool:
    """Whether ``needle`` occurs in ``start`` + the rest of ``fh`` (:func:`_find`)."""
    return _find(fh, start, needle, chunk) >= 0


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


def _decode_with_pillow(path: Path) -> np.ndarray | None:
    """A (H, W, 3) uint8 BGR array of the picture's first frame, EXIF orientation applied, or None."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except Exception:
        return None
    return np.ascontiguousarray(rgb[:, :, ::-1])


#: the first bytes of the picture formats that can hold transparency (PNG, WebP, TIFF, BMP, GIF)
_ALPHA_MAGIC = (b"\x89PNG", b"RIFF", b"II*\x00", b"MM\x00*", b"BM", b"GIF8")


def on_white(image: np.ndarray, path: Path | bytes) -> np.ndarray:
    """``image`` (the picture at ``path``, or in the bytes ``path``, decoded to BGR, EXIF
    orientation applied) with the picture's transparency, if it has any, laid over white, as a
    browser or viewer shows it: decoding to BGR keeps whatever colour the transparent pixels hold
    (often black), which is not what anyone saw (:func:`rtliveness.types.over_white`, the one
    rule). The alpha is Pillow's, turned by the same EXIF orientation."""
    import io

    try:
        if isinstance(path, (bytes, bytearray, memoryview)):
            head, source = bytes(path[:4]), io.BytesIO(path)
        else:
            with open(path, "rb") as fh:
                head, source = fh.read(4), path
    except OSError:
        return image
    if not head.startswith(_ALPHA_MAGIC):
        return image
    import warnings

    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(source) as im:
                if im.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in im.info:
                    return image
                alpha = np.asarray(ImageOps.exif_transpose(im).convert("RGBA").getchannel("A"))
    except Exception:  # noqa: BLE001 - Pillow cannot read it the same way: the picture as OpenCV decoded it
        return image
    if alpha.shape != image.shape[:2]:
        return image
    return over_white(image, alpha)


def _check_frames(frames: int) -> None:
    if frames < 1:
        raise ConfigError(f"a still photo is delivered as frames >= 1 times, got {frames}")


class StillSource(_SourceBase):
    """A still photo as a static scene: the same image ``frames`` times (one full window by
    default), so it is detected, tracked and scored exactly as a video that does not move. The
    image is read-only: every frame is the same array."""

    def __init__(self, path: str | os.PathLike, frames: int = STILL_FRAMES, fps: float = DEFAULT_FPS) -> None:
        _check_frames(frames)
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
        self._hold(on_white(image, p), frames, fps)

    @classmethod
    def from_image(cls, image: np.ndarray, name: str, frames: int = STILL_FRAMES, fps: float = DEFAULT_FPS) -> "StillSource":
        """A picture already decoded (a camera's snapshot URL, read by FFmpeg) as a still scene."""
        _check_frames(frames)
        src = cls.__new__(cls)
        src.name = name
        src._hold(np.array(image, copy=True), frames, fps)
        return src

    def _hold(self, image: np.ndarray, frames: int, fps: float) -> None:
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
