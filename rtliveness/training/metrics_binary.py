"""The origin's binary metrics (bona fide = 0, attack = 1): confusion matrix, accuracy, F-beta
(F1 / F2) and the per-class prediction table."""

from __future__ import annotations

from typing import Literal

import numpy as np

from .metrics_inputs import BONA_FIDE, ArrayLike, _classes, _is_attack, _ratio, _scores, _threshold, class_order

__all__ = [
    "confusion_matrix",
    "accuracy",
    "fbeta",
    "f1_macro",
    "f1_weighted",
    "f2_weighted",
    "per_class_table",
]


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
