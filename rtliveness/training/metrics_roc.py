"""Threshold-free metrics: the ROC curve (attacks as positives), its AUC and the equal error rate."""

from __future__ import annotations

import numpy as np

from .metrics_inputs import BONA_FIDE, ArrayLike, _is_attack, _scores

__all__ = ["roc_curve", "roc_auc", "eer"]


def roc_curve(
    scores: ArrayLike, is_attack: ArrayLike, *, bona_fide: str = BONA_FIDE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve with attacks as the positive class: ``(fpr, tpr, thresholds)``.

    ``fpr[k]`` is the BPCER and ``tpr[k]`` is 1 - APCER (attacks pooled) when classifying
    ``score >= thresholds[k]`` as attack. ``thresholds`` are the distinct scores in decreasing
    order preceded by ``+inf`` (the point (0, 0): nothing flagged). Tied scores produce a single
    point, so a tie between a bona fide and an attack sample is a diagonal step of the curve —
    which is what makes :func:`roc_auc` count ties as 1/2.

    Raises ValueError when there are no attacks or no bona fide samples (the curve is undefined).
    """
    s = _scores(scores)
    a = _is_attack(is_attack, s.size, bona_fide)
    n_pos = int(np.count_nonzero(a))
    n_neg = s.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"the ROC curve needs both bona fide and attack samples, got {n_neg} bona fide "
            f"and {n_pos} attack"
        )
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y = a[order]
    # last index of each run of equal scores
    last = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s.size - 1]
    tps = np.cumsum(y)[last]
    fps = (last + 1) - tps
    tpr = np.r_[0.0, tps / n_pos]
    fpr = np.r_[0.0, fps / n_neg]
    thresholds = np.r_[np.inf, s_sorted[last]]
    return fpr, tpr, thresholds


def roc_auc(scores: ArrayLike, is_attack: ArrayLike, *, bona_fide: str = BONA_FIDE) -> float | None:
    """Area under the ROC curve by the trapezoid rule.

    Equals the Mann–Whitney probability that a random attack scores higher than a random bona
    fide sample, ties counted 1/2::

        AUC = ( #{(a, b) : s_a > s_b} + 1/2 #{(a, b) : s_a == s_b} ) / (N_attack * N_bona_fide)

    ``None`` when there are no attacks or no bona fide samples.
    """
    s = _scores(scores)
    a = _is_attack(is_attack, s.size, bona_fide)
    if a.all() or not a.any():
        return None
    fpr, tpr, _ = roc_curve(s, a)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def eer(
    scores: ArrayLike, is_attack: ArrayLike, *, bona_fide: str = BONA_FIDE
) -> tuple[float | None, float | None]:
    """Equal error rate and a threshold near it: ``(eer, threshold)``.

    Attacks are pooled (APCER of all attacks together) against BPCER. The operating points
    ``(BPCER_k, APCER_k)`` at the distinct score thresholds are joined by straight lines (the
    ROC curve, whose segments are the error rates reachable by randomising between two adjacent
    thresholds). ``d_k = APCER_k - BPCER_k`` falls from +1 to -1 along the curve; on the first
    segment where it changes sign, ``alpha = d_k / (d_k - d_{k+1})`` and::

        EER = BPCER_k + alpha * (BPCER_{k+1} - BPCER_k)   (= the interpolated APCER there)

    The returned threshold is the endpoint of that segment whose realised APCER and BPCER are
    closest (``alpha < 0.5`` -> upper endpoint, else lower; an exact tie goes to the lower
    threshold, the one with the smaller APCER). It is an actual score value, or just above the
    largest score when flagging nothing is closest, so the error rates at the threshold are
    achievable; they straddle the EER rather than equal it unless the curve crosses exactly at
    a point.

    ``(None, None)`` when there are no attacks or no bona fide samples.
    """
    s = _scores(scores)
    a = _is_attack(is_attack, s.size, bona_fide)
    if a.all() or not a.any():
        return None, None
    fpr, tpr, thr = roc_curve(s, a)
    fnr = 1.0 - tpr
    d = fnr - fpr
    # first segment where d changes sign (d is non-increasing; d[0] = 1, d[-1] = -1)
    k = int(np.flatnonzero((d[:-1] >= 0) & (d[1:] <= 0) & (d[:-1] != d[1:]))[0])
    alpha = d[k] / (d[k] - d[k + 1])
    value = fpr[k] + alpha * (fpr[k + 1] - fpr[k])
    t = thr[k] if alpha < 0.5 else thr[k + 1]
    if np.isinf(t):
        t = np.nextafter(s.max(), np.inf)
    return float(value), float(t)
