"""Operating points: BPCER at a fixed worst-case APCER and the calibration of a decision threshold."""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..config import check_calibration
from ..logodds import logit, sigmoid
from .metrics_inputs import BONA_FIDE, ArrayLike, _classes, _scores, class_order
from .metrics_roc import eer

__all__ = ["bpcer_at_apcer", "calibrate_threshold", "deployment_threshold", "SECURITY_LEVELS", "security_levels"]


def _operating_points(
    s: np.ndarray, c: np.ndarray, bona_fide: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate thresholds (descending: just above the max score, then each distinct score) with
    APCER_max and BPCER at each. Requires at least one attack and one bona fide sample."""
    uniq = np.unique(s)[::-1]
    cand = np.r_[np.nextafter(uniq[0], np.inf), uniq]
    bf = np.sort(s[c == bona_fide])
    bp = (bf.size - np.searchsorted(bf, cand, side="left")) / bf.size
    worst = np.zeros(cand.size)
    for name in class_order(c, bona_fide):
        if name == bona_fide:
            continue
        st = np.sort(s[c == name])
        worst = np.maximum(worst, np.searchsorted(st, cand, side="left") / st.size)
    return cand, worst, bp


_TOL = 1e-12  # rates are k/n; absorb the rounding of a target such as 0.05


def bpcer_at_apcer(
    scores: ArrayLike, classes: ArrayLike, target_apcer: float, *, bona_fide: str = BONA_FIDE
) -> tuple[float | None, float | None]:
    """Lowest BPCER at which the worst-case APCER is at most ``target_apcer``: ``(bpcer, threshold)``.

    ISO/IEC 30107-3 recommends reporting BPCER at fixed APCER, e.g. BPCER20 (APCER = 5 %) and
    BPCER100 (APCER = 1 %). APCER is the maximum over attack types (:func:`apcer_max`). Among the
    thresholds that satisfy ``APCER_max <= target_apcer`` the one with the lowest BPCER is
    chosen; ties go to the lower APCER_max, then to the higher threshold. The threshold is a
    score value (or just above the largest score), applied as ``score >= threshold``. A solution
    always exists since flagging everything gives APCER = 0.

    ``(None, None)`` when there are no attacks or no bona fide samples.
    """
    s = _scores(scores)
    c = _classes(classes, s.size)
    target = float(target_apcer)
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target_apcer must be in [0, 1], got {target_apcer!r}")
    n_bf = int(np.count_nonzero(c == bona_fide))
    if n_bf == 0 or n_bf == s.size:
        return None, None
    cand, worst, bp = _operating_points(s, c, bona_fide)
    ok = np.flatnonzero(worst <= target + _TOL)
    best = ok[np.lexsort((-cand[ok], worst[ok], bp[ok]))[0]]
    return float(bp[best]), float(cand[best])


def calibrate_threshold(
    scores: ArrayLike,
    classes: ArrayLike,
    method: Literal["eer", "apcer", "bpcer"] = "eer",
    target: float | None = None,
    *,
    bona_fide: str = BONA_FIDE,
) -> float:
    """Choose a decision threshold on labelled (validation) scores.

    * ``"eer"``: the threshold returned by :func:`eer` (attacks pooled); ``target`` must be None.
    * ``"apcer"``: lowest BPCER subject to worst-case APCER <= ``target`` (:func:`bpcer_at_apcer`).
    * ``"bpcer"``: lowest worst-case APCER subject to BPCER <= ``target``; ties go to the lower
      BPCER, then the higher threshold.

    Returns a score value (or just above the largest score) to use as ``score >= threshold``.
    Raises :class:`~rtliveness.errors.ConfigError` (a ValueError) for an unknown method or a
    missing/invalid target, and ValueError for data without both bona fide and attack samples
    (no threshold can be calibrated then).
    """
    s = _scores(scores)
    c = _classes(classes, s.size)
    n_bf = int(np.count_nonzero(c == bona_fide))
    check_calibration(method, target, flag="method")  # the one rule (a ConfigError, a ValueError)
    if n_bf == 0 or n_bf == s.size:
        raise ValueError(
            f"calibration needs both bona fide ({bona_fide!r}) and attack samples, got "
            f"{n_bf} bona fide and {s.size - n_bf} attack"
        )
    if method == "eer":
        return eer(s, c, bona_fide=bona_fide)[1]  # type: ignore[return-value]
    if method == "apcer":
        return bpcer_at_apcer(s, c, float(target), bona_fide=bona_fide)[1]  # type: ignore[arg-type,return-value]
    cand, worst, bp = _operating_points(s, c, bona_fide)
    ok = np.flatnonzero(bp <= float(target) + _TOL)  # type: ignore[arg-type]
    best = ok[np.lexsort((-cand[ok], bp[ok], worst[ok]))[0]]
    return float(cand[best])


#: stored thresholds stay inside (0, 1), away from the ends a probability never reaches
_CLIP = 1e-4


def deployment_threshold(
    scores: ArrayLike,
    classes: ArrayLike,
    method: Literal["eer", "apcer", "bpcer"] = "eer",
    target: float | None = None,
    *,
    bona_fide: str = BONA_FIDE,
) -> float:
    """The threshold to store with weights: :func:`calibrate_threshold`'s operating point, moved
    to the middle (in log-odds) of the interval of thresholds that make the same decisions on
    these scores, and kept in ``[1e-4, 1 - 1e-4]``.

    :func:`calibrate_threshold` returns a score value: the lowest attack score it flags. On a
    small dev set whose classes separate (live at 0.003, attacks from 0.997) that put the
    threshold on the last attack, and unseen attacks just below it were accepted. Every
    threshold in ``(next lower score, chosen score]`` gives the same dev rates; the middle of
    that gap is the one least tied to the particular dev samples."""
    s = _scores(scores)
    t = float(calibrate_threshold(s, classes, method, target, bona_fide=bona_fide))
    below = s[s < t]
    if below.size:
        lo, hi = float(np.clip(below.max(), _CLIP, 1 - _CLIP)), float(np.clip(t, _CLIP, 1 - _CLIP))
        t = float(sigmoid(0.5 * (logit(lo) + logit(hi))))
    return float(min(max(t, _CLIP), 1 - _CLIP))


#: named operating points calibrated on the dev split and stored with the weights
SECURITY_LEVELS: tuple[tuple[str, str, float | None], ...] = (
    ("convenience", "eer", None),  # APCER = BPCER on dev
    ("balanced", "apcer", 0.05),  # lowest BPCER with worst-case APCER <= 5 %
    ("strict", "apcer", 0.01),  # lowest BPCER with worst-case APCER <= 1 %
)


def security_levels(scores: ArrayLike, classes: ArrayLike) -> tuple[tuple[str, float], ...]:
    """Thresholds of :data:`SECURITY_LEVELS` calibrated on labelled dev scores."""
    return tuple((name, deployment_threshold(scores, np.asarray(classes), method=method, target=target)) for name, method, target in SECURITY_LEVELS)
