"""Per-track ring buffers of the last ``window`` crop embeddings; full windows come out stacked."""

from __future__ import annotations

from collections import deque
from typing import Iterable

import numpy as np

from ..model.dims import WINDOW

__all__ = ["WindowBuffer"]


class WindowBuffer:
    """``deque(maxlen=window)`` per track id (the ring buffer of the origin design).

    Items are anything array-like of a fixed shape (the 512-d embedding of a crop, or the crop).
    """

    def __init__(self, window: int = WINDOW) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = window
        self._items: dict[int, deque] = {}

    def push(self, track_id: int, item: np.ndarray) -> np.ndarray | None:
        """Add ``item`` for ``track_id``; return the full window stacked (oldest first) or None."""
        buf = self._items.get(track_id)
        if buf is None:
            buf = self._items[track_id] = deque(maxlen=self.window)
        buf.append(item)
        if len(buf) == self.window:
            return np.stack(list(buf))
        return None

    def distance_to_last(self, track_id: int, item: np.ndarray) -> float | None:
        """Cosine distance (0 same direction … 2 opposite) between ``item`` and the latest item of
        ``track_id``; None when the track holds none, 0 when either is all zeros (no direction)."""
        buf = self._items.get(track_id)
        if not buf:
            return None
        a, b = np.asarray(buf[-1], np.float64).ravel(), np.asarray(item, np.float64).ravel()
        norms = float(np.linalg.norm(a) * np.linalg.norm(b))
        return 1.0 - float(a @ b) / norms if norms > 0 else 0.0

    def count(self, track_id: int) -> int:
        buf = self._items.get(track_id)
        return 0 if buf is None else len(buf)

    def drop(self, track_ids: Iterable[int]) -> None:
        for tid in track_ids:
            self._items.pop(tid, None)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        """Number of tracks holding a buffer."""
        return len(self._items)
