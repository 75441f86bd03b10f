"""Damaged copies of the bundled clips, shared by the source and service tests."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def damaged_copy(path: Path, out: Path, where: float, size: int = 20000) -> Path:
    """``path`` (an mp4/mov) with ``size`` bytes of noise at fraction ``where`` of its frame data
    (its 'mdat' box, found by walking the top-level boxes)."""
    data = bytearray(path.read_bytes())
    at = 0
    while True:
        box, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind == b"mdat":
            break
        at += box
    start = at + 8 + int((box - 8) * where)
    data[start:start + size] = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes()
    out.write_bytes(bytes(data))
    return out
