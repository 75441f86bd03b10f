"""One WebSocket stream's logic, without the network: decode a message, queue it, make records.

Messages are numbered in arrival order; that number is the record's ``frame``. Frames wait in
:class:`PendingFrames`, which holds at most ``limit`` undecoded frames: when a new frame arrives
and it is full, the oldest waiting frame is replaced by a marker and answered with
``{"frame", "time", "faces": [], "dropped": true}``. Errors and drops keep their place, so the
client gets exactly one record per message, in order. A frame whose verdicts repeat the previous
frame's (identical pixels) says ``"repeated": true``.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_FRAME_PIXELS", "Item", "PendingFrames", "decode_frame", "dropped_record", "error_record", "frame_record"]


@dataclass(frozen=True)
class Item:
    """A numbered message: ``kind`` is ``frame`` (``data`` holds its bytes), ``dropped`` or
    ``error`` (``data`` holds the reason)."""

    kind: str
    index: int
    time: float
    data: bytes | str = b""


#: the largest frame a stream decodes: 8K UHD is 33 megapixels; a small file can declare far more
#: (a 776 KB PNG of 16000 x 16000 pixels decodes to 768 MB)
MAX_FRAME_PIXELS = 40_000_000


def declared_pixels(image: bytes | str | os.PathLike) -> tuple[int, str] | None:
    """(pixels, "WxH") as a picture's header declares them (Pillow reads the header only; bytes
    or a file path), or None when Pillow does not know the format."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as im:
            return im.size[0] * im.size[1], f"{im.size[0]}x{im.size[1]}"
    except Image.DecompressionBombError:  # Pillow's own refusal: more than 179 megapixels
        return 2 * Image.MAX_IMAGE_PIXELS + 1, "more than 179 million"
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def too_many_pixels(pixels: int, size: str, what: str = "frame") -> str | None:
    """The one-line refusal of a picture over :data:`MAX_FRAME_PIXELS`, or None: the one rule for
    stream frames and uploads."""
    if pixels <= MAX_FRAME_PIXELS:
        return None
    return f"{what} of {size} pixels exceeds {MAX_FRAME_PIXELS // 1_000_000} megapixels: send camera frames (downscale larger images)"


def decode_frame(data: bytes) -> np.ndarray | str:
    """JPEG / PNG / WebP (any picture format whose header Pillow reads) bytes → a BGR image (its
    transparency laid over white), or a one-line reason. The size is read from the header first: a frame over
    :data:`MAX_FRAME_PIXELS`, or one whose size cannot be read (a format only OpenCV knows, such
    as Radiance HDR, could declare any size), is refused before it is decoded."""
    import cv2

    if not data:
        return "empty message: send each frame as JPEG or PNG bytes"
    declared = declared_pixels(data)
    problem = None if declared is None else too_many_pixels(*declared)
    if declared is not None and problem is None:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is not None and image.size > 0:
            from ..runtime.sources.stills import on_white

            return on_white(image, data)  # a cut-out PNG on white, as run and uploads see it
    return problem or f"cannot decode {len(data)} bytes as an image: send each frame as JPEG or PNG bytes"


def frame_record(result) -> dict:
    """A processed frame's record: the JSONL frame record of ``rtliveness run``, plus
    ``"repeated": true`` when its verdicts are the previous frame's given again (identical
    pixels: no new window was scored, so it counts toward no decision)."""
    record = result.to_json()
    if result.repeated:
        record["repeated"] = True
    return record


def dropped_record(item: Item) -> dict:
    return {"frame": item.index, "time": round(item.time, 6), "faces": [], "dropped": True}


def error_record(item: Item) -> dict:
    return {"frame": item.index, "error": str(item.data)}


class PendingFrames:
    """The bounded FIFO between the receiving and the processing task of one stream.

    ``put`` never blocks: beyond ``limit`` waiting frames the oldest one becomes a ``dropped``
    marker (markers and errors hold no image bytes). ``get`` waits for the next item and
    returns None once the stream is closed and drained. Markers are small but not free: a client
    that sends without reading its answers is paused (``wait_room``) once ``max_items`` records
    are owed, so TCP pushes back instead of the server's memory growing."""

    def __init__(self, limit: int, max_items: int = 1024) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.limit = limit
        self.max_items = max(max_items, limit + 1)
        self._room = asyncio.Event()
        self._room.set()
        self._items: deque[Item] = deque()
        self._frames = 0  # items of kind "frame" in the queue
        self._event = asyncio.Event()
        self._closed = False
        self.dropped = 0

    def put(self, item: Item) -> None:
        if self._closed:
            return
        if item.kind == "frame":
            if self._frames >= self.limit:
                self._drop_oldest()
            self._frames += 1
        self._items.append(item)
        if len(self._items) >= self.max_items:
            self._room.clear()
        self._event.set()

    async def wait_room(self) -> None:
        """Return once fewer than ``max_items`` records are owed (or the stream closed)."""
        while len(self._items) >= self.max_items and not self._closed:
            self._room.clear()
            await self._room.wait()

    def _drop_oldest(self) -> None:
        for i, old in enumerate(self._items):
            if old.kind == "frame":
                self._items[i] = Item("dropped", old.index, old.time)
                self._frames -= 1
                self.dropped += 1
                return

    def close(self) -> None:
        self._closed = True
        self._event.set()
        self._room.set()

    def discard(self) -> None:
        """Close and forget what waits: the client has left, nobody reads those answers (its slot is
        free at once, so the frames it left must not be processed on its behalf)."""
        self._items.clear()
        self._frames = 0
        self.close()

    async def get(self) -> Item | None:
        while not self._items:
            if self._closed:
                return None
            self._event.clear()
            await self._event.wait()
        item = self._items.popleft()
        if item.kind == "frame":
            self._frames -= 1
        if len(self._items) < self.max_items:
            self._room.set()
        return item

    @property
    def waiting_frames(self) -> int:
        return self._frames
