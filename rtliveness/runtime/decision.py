"""A confident per-face decision for kiosk flows: wait until one face's recent windows agree.

Pure logic over :class:`FrameResult` objects; :func:`decide` drives a pipeline over a source.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..config import check_threshold
from ..errors import ConfigError
from ..logodds import logit, sigmoid
from ..types import FaceBox, FrameResult

__all__ = ["DECISION_MARGIN", "DECISION_WINDOWS", "Decision", "DecisionRule", "decide", "decision_bounds", "label_for"]


def label_for(p_spoof: float, threshold: float) -> str:
    """The decision rule, in one place: ``spoof`` when ``p_spoof >= threshold``, else ``live``."""
    return "spoof" if p_spoof >= threshold else "live"


#: ``decide``'s defaults: 5 consecutive confident windows, margin 0.1 (the kiosk page's too)
DECISION_WINDOWS = 5
DECISION_MARGIN = 0.1


#: what a bad threshold given to the decision rule is told
_THRESHOLD_ADVICE = "give the pipeline's own, pipeline.threshold (its weights' or the security level's)"


def decision_bounds(threshold: float, margin: float) -> tuple[float, float]:
    """``(live_below, spoof_from)``: a window counts as a confident ``live`` when its p_spoof is
    below the first, a confident ``spoof`` when it is at or above the second — the one place of
    this rule (the kiosk page gets both from ``/health``).

    The margin is ``margin`` on the probability scale at threshold 0.5 and the same distance in
    log-odds at any other threshold (``logit(p)`` within ``logit(0.5 + margin)`` of
    ``logit(threshold)`` is not confident). A plain ``threshold ± margin`` would leave no live
    side at all below a threshold of ``margin`` — the ``balanced`` and ``strict`` levels sit at
    p_spoof 0.02 and 0.003 — so a kiosk could never say ``live`` there."""
    if not _is_number(margin) or not 0 <= margin < 0.5:
        raise ConfigError(f"margin must be in [0, 0.5), got {margin!r}")
    t = check_threshold(threshold, "threshold", _THRESHOLD_ADVICE)  # 42, 1.0 or NaN was clamped: attacks decided live
    d, z = float(logit(0.5 + margin)), float(logit(t))
    return float(sigmoid(z - d)), float(sigmoid(z + d))


def _is_number(value, kinds: tuple = (int, float, np.number)) -> bool:
    """Whether ``value`` is one of ``kinds`` and not a bool (True is an int to Python)."""
    return not isinstance(value, bool) and isinstance(value, kinds)


@dataclass(frozen=True)
class Decision:
    label: str  # "live" | "spoof" | "undecided" (timeout)
    track_id: int | None
    p_spoof: float | None  # mean over the deciding windows
    windows: int
    frames: int
    seconds: float
    #: where the deciding face was in the last frame read (None: undecided). The first face to
    #: become confident decides, whichever it is: with several people in view, check it
    box: FaceBox | None = None


class DecisionRule:
    """Decide once a track has ``windows`` consecutive scored windows whose p_spoof all lie on
    the same side of the threshold by at least ``margin`` (:func:`decision_bounds`). A verdict
    repeated on an identical frame (a frozen camera, a photo given again: ``FrameResult.repeated``)
    is no new window and does not count; a face ``pending`` again (its window restarted:
    :class:`~rtliveness.config.TrackerConfig`) starts its count over."""

    def __init__(self, threshold: float, windows: int = DECISION_WINDOWS, margin: float = DECISION_MARGIN) -> None:
        if not _is_number(windows, (int, np.integer)) or windows < 1:
            raise ConfigError(f"windows must be an integer >= 1, got {windows!r}")
        if not _is_number(margin):
            raise ConfigError(f"margin must be a number in [0, 0.5), got {margin!r}")
        self.threshold = check_threshold(threshold, "DecisionRule: threshold", _THRESHOLD_ADVICE)
        self.windows = windows
        self.margin = margin
        self.live_below, self.spoof_from = decision_bounds(threshold, margin)
        self._recent: dict[int, deque] = {}

    def update(self, result: FrameResult) -> tuple[str, int, float] | None:
        seen = set()
        for v in result.faces:
            seen.add(v.track_id)
            if v.p_spoof is None:  # pending: a new face, or its window restarted (another face in its box)
                self._recent.pop(v.track_id, None)  # the count starts over: no decision on the face before
                continue
            if result.repeated:
                continue
            q = self._recent.setdefault(v.track_id, deque(maxlen=self.windows))
            q.append(v.p_spoof)
            if len(q) == self.windows:
                if all(label_for(p, self.spoof_from) == "spoof" for p in q):
                    return "spoof", v.track_id, sum(q) / len(q)
                if all(label_for(p, self.live_below) == "live" for p in q):
                    return "live", v.track_id, sum(q) / len(q)
        for tid in list(self._recent):
            if tid not in seen:
                del self._recent[tid]  # a face that left starts over
        return None


def decide(pipeline, source: Iterable, timeout_s: float = 10.0, windows: int = DECISION_WINDOWS,
           margin: float = DECISION_MARGIN) -> Decision:
    """Run ``pipeline`` over ``source`` until a face gets a confident decision or ``timeout_s``
    passes; returns ``Decision(label='undecided')`` on timeout or when the source ends.

    The timeout holds even when no frame arrives (a frozen camera, a stalled stream): sources
    with a ``frames_until(deadline)`` method (:class:`~rtliveness.runtime.sources.LiveSource`,
    :class:`~rtliveness.runtime.sources.FileSource`) are read with a wait that ends at the
    deadline. Any other iterable is checked between frames only. Errors of the source (e.g.
    :class:`~rtliveness.errors.StreamLostError`) propagate."""
    if not _is_number(timeout_s) or not timeout_s >= 0 \
            or not math.isfinite(timeout_s):
        raise ConfigError(f"timeout_s must be a finite number of seconds >= 0, got {timeout_s!r}")
    if not callable(getattr(pipeline, "run", None)) or not hasattr(pipeline, "threshold"):
        raise ConfigError(f"decide() takes the pipeline first, then the frame source: decide(pipeline, source); got "
                          f"{type(pipeline).__name__} as the pipeline")
    from .pipeline import check_frame_source  # (pipeline imports this module)

    check_frame_source(source, "decide()")
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
            box = next(v.box for v in result.faces if v.track_id == tid)
            return Decision(label, tid, p, windows, n, time.monotonic() - t0, box)
        if time.monotonic() >= deadline:
            break
    return Decision("undecided", None, None, 0, n, time.monotonic() - t0)
