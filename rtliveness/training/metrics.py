"""Presentation-attack-detection metrics (ISO/IEC 30107-3) and the origin's binary metrics.

Conventions used by every function here:

* ``score`` is ``p_spoof`` in [0, 1]: higher means more likely an attack. A sample is classified
  as an **attack** when ``score >= threshold`` and as **bona fide** otherwise.
* ``classes`` is one class name per sample. The bona fide class is ``"real"`` (change it with the
  ``bona_fide`` keyword); every other name is an attack type. ISO/IEC 30107-3 calls an attack type
  a *PAI species* (presentation attack instrument species); the origin uses ``"printed"``,
  ``"replay"`` and ``"2dmask"``.
* ``is_attack`` is a boolean (or 0/1) array, True for attacks. Wherever ``is_attack`` is asked for,
  an array of class names is accepted too (anything other than ``bona_fide`` is an attack).

Definitions (ISO/IEC 30107-3, "Biometric presentation attack detection — Part 3: Testing and
reporting"):

* **APCER** (attack presentation classification error rate): proportion of attack presentations
  using the same PAI species incorrectly classified as bona fide presentations. It is computed
  *per PAI species*; the standard's summary for a system is the worst case, the maximum over the
  species tested (:func:`apcer_max`).
* **BPCER** (bona fide presentation classification error rate): proportion of bona fide
  presentations incorrectly classified as attack presentations.
* **BPCER at a fixed APCER** (the standard's BPCER20 / BPCER100 are BPCER at APCER = 5 % / 1 %):
  :func:`bpcer_at_apcer`.
* **ACER** = (APCER + BPCER) / 2 — see :func:`acer` for why it is still here.

Degenerate inputs are handled on purpose:

* NaN or infinite scores raise :class:`ValueError` naming how many there are; so do empty inputs
  and length mismatches.
* A metric that is undefined for the data (APCER without attacks, BPCER without bona fide
  samples, ROC/AUC/EER without both) is returned as ``None`` (JSON ``null``), never NaN.
* Functions that must return a number (:func:`roc_curve`, :func:`calibrate_threshold`) raise
  :class:`ValueError` when both bona fide and attack samples are needed but one kind is missing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

__all__ = [
    "BONA_FIDE",
    "class_order",
    "apcer_per_type",
    "apcer_max",
    "bpcer",
    "acer",
    "roc_curve",
    "roc_auc",
    "eer",
    "bpcer_at_apcer",
    "confusion_matrix",
    "accuracy",
    "fbeta",
    "f1_macro",
    "f1_weighted",
    "f2_weighted",
    "per_class_table",
    "calibrate_threshold",
    "evaluate_scores",
]

BONA_FIDE = "real"
"""Default name of the bona fide class."""

ArrayLike = Sequence[Any] | np.ndarray


# --------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------


def _scores(scores: ArrayLike, *, allow_empty: bool = False) -> np.ndarray:
    """Return ``scores`` as a 1-D float64 array; raise ValueError on NaN/inf, wrong shape, empty."""
    try:
        s = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"scores must be numbers: {exc}") from None
    if s.ndim != 1:
        raise ValueError(f"scores must be a 1-D array, got shape {s.shape}")
    if s.size == 0 and not allow_empty:
        raise ValueError("scores is empty: there is nothing to evaluate")
    n_nan = int(np.isnan(s).sum())
    n_inf = int(np.isinf(s).sum())
    if n_nan or n_inf:
        parts = []
        if n_nan:
            parts.append(f"{n_nan} NaN")
        if n_inf:
            parts.append(f"{n_inf} infinite")
        raise ValueError(
            f"scores contain {' and '.join(parts)} value(s) out of {s.size}; "
            "drop or fix those samples before computing metrics"
        )
    return s


def _classes(classes: ArrayLike, n: int) -> np.ndarray:
    """Return ``classes`` as a 1-D array of str of length ``n``."""
    c = np.asarray(classes)
    if c.ndim != 1:
        raise ValueError(f"classes must be a 1-D array, got shape {c.shape}")
    if c.size != n:
        raise ValueError(f"classes has {c.size} entries but scores has {n}")
    return c.astype(str)


def _is_attack(is_attack: ArrayLike, n: int, bona_fide: str) -> np.ndarray:
    """Return a boolean attack mask from a bool/0-1 array or from class names."""
    a = np.asarray(is_attack)
    if a.ndim != 1:
        raise ValueError(f"is_attack must be a 1-D array, got shape {a.shape}")
    if a.size != n:
        raise ValueError(f"is_attack has {a.size} entries but scores has {n}")
    if a.dtype.kind in "US" or a.dtype == object and a.size and isinstance(a.flat[0], str):
        return a.astype(str) != bona_fide
    if a.dtype == bool:
        return a
    if a.dtype.kind in "iuf" or a.dtype == object:
        try:
            af = a.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError("is_attack must be booleans, 0/1 or class names") from None
        if not np.all((af == 0) | (af == 1)):
            raise ValueError("is_attack must be booleans, 0/1 or class names; found other numbers")
        return af == 1
    raise ValueError(f"is_attack must be booleans, 0/1 or class names, got dtype {a.dtype}")


def _threshold(threshold: float) -> float:
    t = float(threshold)
    if math.isnan(t):
        raise ValueError("threshold is NaN")
    return t


def _ratio(num: int | float, den: int | float) -> float | None:
    return None if den == 0 else float(num) / float(den)


def class_order(classes: ArrayLike, bona_fide: str = BONA_FIDE) -> list[str]:
    """The class names present in ``classes``: ``bona_fide`` first (if present), then attack types
    sorted by name. This is the row order of :func:`per_class_table` and of the plots."""
    names = sorted(set(np.asarray(classes).astype(str).tolist()))
    attacks = [c for c in names if c != bona_fide]
    return ([bona_fide] if bona_fide in names else []) + attacks


# --------------------------------------------------------------------------------------------
# ISO/IEC 30107-3 error rates at a threshold
# --------------------------------------------------------------------------------------------


def apcer_per_type(
    scores: ArrayLike, classes: ArrayLike, threshold: float, *, bona_fide: str = BONA_FIDE
) -> dict[str, float]:
    """APCER of each attack type at ``threshold``.

    ISO/IEC 30107-3: APCER is the "proportion of attack presentations using the same PAI species
    incorrectly classified as bona fide presentations". Here, for each attack type ``T``::

        APCER_T = #{i : class_i == T and score_i < threshold} / #{i : class_i == T}

    Returns ``{type: apcer}`` for the attack types present, sorted by name; ``{}`` when there are
    no attack samples.
    """
    s = _scores(scores)
    c = _classes(classes, s.size)
    t = _threshold(threshold)
    out: dict[str, float] = {}
    for name in class_order(c, bona_fide):
        if name == bona_fide:
            continue
        m = c == name
        out[name] = float(np.count_nonzero(s[m] < t)) / float(np.count_nonzero(m))
    return out


def apcer_max(
    scores: ArrayLike, classes: ArrayLike, threshold: float, *, bona_fide: str = BONA_FIDE
) -> float | None:
    """Worst-case APCER: the maximum of :func:`apcer_per_type` over the attack types present.

    ISO/IEC 30107-3 summarises a PAD subsystem by the APCER of its most successful PAI species
    (the maximum over the species tested), not by the APCER of all attacks pooled — a pooled rate
    would let a large, easy attack type hide a small, successful one. ``None`` without attacks.
    """
    per = apcer_per_type(scores, classes, threshold, bona_fide=bona_fide)
    return max(per.values()) if per else None


def bpcer(
    scores: ArrayLike, is_attack: ArrayLike, threshold: float, *, bona_fide: str = BONA_FIDE
) -> float | None:
    """BPCER at ``threshold``.

    ISO/IEC 30107-3: BPCER is the "proportion of bona fide presentations incorrectly classified
    as attack presentations"::

        BPCER = #{i : bona fide_i and score_i >= threshold} / #{i : bona fide_i}

    ``is_attack`` may be booleans or class names. ``None`` when there is no bona fide sample.
    """
    s = _scores(scores)
    a = _is_attack(is_attack, s.size, bona_fide)
    t = _threshold(threshold)
    bf = s[~a]
    return _ratio(np.count_nonzero(bf >= t), bf.size)


def acer(
    scores: ArrayLike, classes: ArrayLike, threshold: float, *, bona_fide: str = BONA_FIDE
) -> float | None:
    """ACER = (APCER_max + BPCER) / 2 at ``threshold``.

    ACER (average classification error rate) comes from the draft of ISO/IEC 30107-3 and is
    deprecated by the published standard, which asks for APCER and BPCER to be reported
    separately (averaging two error rates of different cost hides the trade-off). The face-PAD
    literature (OULU-NPU, SiW, CASIA-SURF protocols) still reports it, so it is kept for
    comparison. The APCER used is the worst case over attack types (:func:`apcer_max`), as the
    standard prescribes for the APCER of a system and as the OULU-NPU protocol does.
    ``None`` when there are no attacks or no bona fide samples.
    """
    am = apcer_max(scores, classes, threshold, bona_fide=bona_fide)
    b = bpcer(scores, classes, threshold, bona_fide=bona_fide)
    if am is None or b is None:
        return None
    return (am + b) / 2.0


# --------------------------------------------------------------------------------------------
# threshold-free metrics
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# the origin's binary metrics (bona fide = 0, attack = 1)
# --------------------------------------------------------------------------------------------


def confusion_matrix(
    scores: ArrayLike, is_attack: ArrayLike, threshold: float, *, bona_fide: str = BONA_FIDE
) -> np.ndarray:
    """2x2 integer confusion matrix; rows = true [bona fide, attack], columns = predicted
    [bona fide, attack]. So ``m[0, 1]`` counts BPCER errors and ``m[1, 0]`` APCER errors."""
    s = _scores(scores)
    a = _is_attack(is_attack, s.size, bona_fide)
    p = s >= _threshold(threshold)
    return np.array(
        [
            [np.count_nonzero(~a & ~p), np.count_nonzero(~a & p)],
            [np.count_nonzero(a & ~p), np.count_nonzero(a & p)],
        ],
        dtype=np.int64,
    )


def accuracy(
    scores: ArrayLike, is_attack: ArrayLike, threshold: float, *, bona_fide: str = BONA_FIDE
) -> float:
    """Fraction of samples whose binary prediction (attack iff ``score >= threshold``) is right."""
    m = confusion_matrix(scores, is_attack, threshold, bona_fide=bona_fide)
    return float(m[0, 0] + m[1, 1]) / float(m.sum())


def _fbeta_per_class(m: np.ndarray, beta: float) -> list[float | None]:
    """F-beta of each class (one-vs-rest) from a confusion matrix; None where 0/0."""
    b2 = beta * beta
    out: list[float | None] = []
    for k in range(m.shape[0]):
        tp = float(m[k, k])
        fn = float(m[k, :].sum()) - tp
        fp = float(m[:, k].sum()) - tp
        out.append(_ratio((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp))
    return out


def fbeta(
    scores: ArrayLike,
    is_attack: ArrayLike,
    threshold: float,
    *,
    beta: float = 1.0,
    average: Literal["macro", "weighted"] = "macro",
    bona_fide: str = BONA_FIDE,
) -> float | None:
    """F-beta of the binary task (bona fide = 0, attack = 1), each class taken in turn as positive.

    For a class: ``F = (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP)``, i.e. the weighted harmonic
    mean of precision and recall with recall ``beta`` times as important.

    * ``average="macro"``: unweighted mean of the two classes' F. ``None`` unless both classes
      occur in the ground truth (a class without support would add an arbitrary 0 or 1).
    * ``average="weighted"``: mean weighted by each class's support (true count), as in the
      origin's (scikit-learn's) ``average="weighted"``. A class without support has weight 0, so
      this is defined whenever there is a sample.
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta!r}")
    m = confusion_matrix(scores, is_attack, threshold, bona_fide=bona_fide)
    support = m.sum(axis=1)
    f = _fbeta_per_class(m, beta)
    if average == "macro":
        if np.any(support == 0):
            return None
        return float((f[0] + f[1]) / 2.0)  # type: ignore[operator]
    if average == "weighted":
        return float(sum(float(n) * fk for n, fk in zip(support, f) if n > 0 and fk is not None) / support.sum())
    raise ValueError(f"average must be 'macro' or 'weighted', got {average!r}")


def f1_macro(scores: ArrayLike, is_attack: ArrayLike, threshold: float, *, bona_fide: str = BONA_FIDE) -> float | None:
    """Macro-averaged F1 (see :func:`fbeta`); ``None`` unless both classes are present."""
    return fbeta(scores, is_attack, threshold, beta=1.0, average="macro", bona_fide=bona_fide)


def f1_weighted(scores: ArrayLike, is_attack: ArrayLike, threshold: float, *, bona_fide: str = BONA_FIDE) -> float:
    """Support-weighted F1 (see :func:`fbeta`)."""
    return fbeta(scores, is_attack, threshold, beta=1.0, average="weighted", bona_fide=bona_fide)  # type: ignore[return-value]


def f2_weighted(scores: ArrayLike, is_attack: ArrayLike, threshold: float, *, bona_fide: str = BONA_FIDE) -> float:
    """Support-weighted F2 (F-beta with beta = 2: recall counts 4x precision; see :func:`fbeta`)."""
    return fbeta(scores, is_attack, threshold, beta=2.0, average="weighted", bona_fide=bona_fide)  # type: ignore[return-value]


def per_class_table(
    scores: ArrayLike, classes: ArrayLike, threshold: float, *, bona_fide: str = BONA_FIDE
) -> dict[str, dict[str, int]]:
    """Predictions per class: ``{class: {"n": .., "pred_live": .., "pred_spoof": ..}}``.

    Rows in :func:`class_order` (bona fide first, then attack types by name). For an attack type
    ``pred_live / n`` is its APCER; for the bona fide class ``pred_spoof / n`` is the BPCER.
    """
    s = _scores(scores)
    c = _classes(classes, s.size)
    p = s >= _threshold(threshold)
    out: dict[str, dict[str, int]] = {}
    for name in class_order(c, bona_fide):
        m = c == name
        spoof = int(np.count_nonzero(p[m]))
        n = int(np.count_nonzero(m))
        out[name] = {"n": n, "pred_live": n - spoof, "pred_spoof": spoof}
    return out


# --------------------------------------------------------------------------------------------
# calibration and the full report
# --------------------------------------------------------------------------------------------


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
    Raises ValueError for an unknown method, a missing/invalid target, or data without both bona
    fide and attack samples (no threshold can be calibrated then).
    """
    s = _scores(scores)
    c = _classes(classes, s.size)
    n_bf = int(np.count_nonzero(c == bona_fide))
    if method not in ("eer", "apcer", "bpcer"):
        raise ValueError(f"unknown calibration method {method!r}: use 'eer', 'apcer' or 'bpcer'")
    if method == "eer":
        if target is not None:
            raise ValueError("method='eer' takes no target")
    else:
        if target is None:
            raise ValueError(f"method={method!r} needs a target rate, e.g. target=0.05")
        if not 0.0 <= float(target) <= 1.0:
            raise ValueError(f"target must be in [0, 1], got {target!r}")
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


def _opt(x: float | None) -> float | None:
    return None if x is None else float(x)


def evaluate_scores(
    scores: ArrayLike, classes: ArrayLike, threshold: float, *, bona_fide: str = BONA_FIDE
) -> dict[str, Any]:
    """Every metric of this module at ``threshold``, as a JSON-serialisable dict.

    Keys: ``n``, ``n_bona_fide``, ``n_attack``, ``threshold``, ``apcer`` (per type),
    ``apcer_max``, ``bpcer``, ``acer``, ``eer``, ``eer_threshold``, ``auc``,
    ``bpcer_at_apcer_1pct``, ``bpcer_at_apcer_5pct``, ``accuracy``, ``f1_macro``,
    ``f1_weighted``, ``f2_weighted``, ``confusion_matrix`` (``{"labels": ["bona_fide",
    "attack"], "matrix": [[TN, FP], [FN, TP]]}``, rows true, columns predicted) and
    ``per_class`` (see :func:`per_class_table`). Undefined metrics are ``None``; the dict
    contains no NaN or infinity (``json.dumps(..., allow_nan=False)`` succeeds).
    """
    s = _scores(scores)
    c = _classes(classes, s.size)
    t = _threshold(threshold)
    if math.isinf(t):
        raise ValueError(f"threshold must be finite for a report, got {threshold!r}")
    kw = {"bona_fide": bona_fide}
    n_bf = int(np.count_nonzero(c == bona_fide))
    e, e_t = eer(s, c, **kw)
    m = confusion_matrix(s, c, t, **kw)
    return {
        "n": int(s.size),
        "n_bona_fide": n_bf,
        "n_attack": int(s.size - n_bf),
        "threshold": t,
        "apcer": apcer_per_type(s, c, t, **kw),
        "apcer_max": _opt(apcer_max(s, c, t, **kw)),
        "bpcer": _opt(bpcer(s, c, t, **kw)),
        "acer": _opt(acer(s, c, t, **kw)),
        "eer": e,
        "eer_threshold": e_t,
        "auc": roc_auc(s, c, **kw),
        "bpcer_at_apcer_1pct": bpcer_at_apcer(s, c, 0.01, **kw)[0],
        "bpcer_at_apcer_5pct": bpcer_at_apcer(s, c, 0.05, **kw)[0],
        "accuracy": accuracy(s, c, t, **kw),
        "f1_macro": _opt(f1_macro(s, c, t, **kw)),
        "f1_weighted": _opt(f1_weighted(s, c, t, **kw)),
        "f2_weighted": _opt(f2_weighted(s, c, t, **kw)),
        "confusion_matrix": {"labels": ["bona_fide", "attack"], "matrix": m.tolist()},
        "per_class": per_class_table(s, c, t, **kw),
    }
