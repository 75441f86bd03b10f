"""A confident per-face decision for kiosk flows: wait until one face's recent windows agree.

Pure logic over :class:`FrameResult` objects; :func:`decide` drives a pipeline over a source.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Iterable

from ..errors import ConfigError
from ..types import FrameResult

__all__ = ["Decision", "DecisionRule", "decide", "label_for"]


def label_for(p_spoof: float, threshold: float) -> str:
    """The decision rule, in one place: ``spoof`` when ``p_spoof >= threshold``, else ``live``."""
    return "spoof" if p_spoof >= threshold else "live"


@dataclass(frozen=True)
class Decision:
    label: str  # "live" | "spoof" | "undecided" (timeout)
    track_id: int | None
    p_spoof: float | None  # mean over the deciding windows
    windows: int
    frames: int
    seconds: float


class DecisionRule:
    """Decide once a track has ``windows`` consecutive scored windows whose p_spoof all lie on
    the same side of the threshold by at least ``margin``."""

    def __init__(self, threshold: float, windows: int = 5, margin: float = 0.1) -> None:
        if windows < 1:
            raise ConfigError(f"windows must be >= 1, got {windows}")
        if not 0 <= margin < 0.5:
            raise ConfigError(f"margin must be in [0, 0.5), got {margin}")
        self.threshold = threshold
        self.windows = windows
        self.margin = margin
        self._recent: dict[int, deque] = {}

    def update(self, result: FrameResult) -> tuple[str, int, float] | None:
        seen = set()
        for v in result.faces:
            seen.add(v.track_id)
            if v.p_spoof is None:
                continue
            q = self._recent.setdefault(v.track_id, deque(maxlen=self.windows))
            q.append(v.p_spoof)
            if len(q) == self.windows:
                if all(label_for(p, self.threshold + self.margin) == "spoof" for p in q):
                    return "spoof", v.track_id, sum(q) / len(q)
                if all(label_for(p, self.threshold - self.margin) == "live" for p in q):
                    return "live", v.track_id, sum(q) / len(q)
        for tid in list(self._recent):
            if tid not in seen:
                del self._recent[tid]  # a face that left starts over
        return None


def decide(pipeline, source: Iterable, timeout_s: float = 10.0, windows: int = 5, margin: float = 0.1) -> Decision:
    """Run ``pipeline`` over ``source`` until a face gets a confident decision or ``timeout_s``
    passes; returns ``Decision(label='undecided')`` on timeout or when the source ends.

    The timeout holds even when no frame arrives (a frozen camera, a stalled stream): sources
    with a ``frames_until(deadline)`` method (:class:`~rtliveness.runtime.sources.LiveSource`,
    :class:`~rtliveness.runtime.sources.FileSource`) are read with a wait that ends at the
    deadline. Any other iterable is checked between frames only. Errors of the source (e.g.
    :class:`~rtliveness.errors.StreamLostError`) propagate."""
    rule = DecisionRule(pipeline.threshold, windows, margin)
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    bounded = getattr(source, "frames_until", None)
    frames = bounded(deadline) if callable(bounded) else source
    n = 0
    for result in pipeline.run(frames):
        n += 1
        got = rule.update(result)
        if got is not None:
            label, tid, p = got
            return Decision(label, tid, p, windows, n, time.monotonic() - t0)
        if time.monotonic() >= deadline:
            break
    return Decision("undecided", None, None, 0, n, time.monotonic() - t0)
