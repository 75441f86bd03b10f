"""The full metrics report at a threshold (:func:`evaluate_scores`), as a JSON-serialisable dict."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .metrics_binary import accuracy, confusion_matrix, f1_macro, f1_weighted, f2_weighted, per_class_table
from .metrics_inputs import BONA_FIDE, ArrayLike, _classes, _scores, _threshold
from .metrics_iso import acer, apcer_max, apcer_per_type, bpcer
from .metrics_roc import eer, roc_auc
from .metrics_thresholds import bpcer_at_apcer

__all__ = ["evaluate_scores"]


def _opt(x: float | None) -> float | None:
    return None if x is None else float(x)


def evaluate_scores(
    scores: ArrayLike, classes: ArrayLike, threshold: float, *, bona_fide: str = BONA_FIDE
) -> dict[str, Any]:
    """Every metric of this module at ``threshold``, as a JSON-serialisable dict.

    Keys: ``n``, ``n_bona_fide``, ``n_attack``, ``threshold``, ``apcer`` (per type),
    ``apcer_max``, ``bpcer``, ``acer``, ``eer``, ``eer_threshold``, ``auc``,
    ``bpcer_at_apcer_1pct``, ``bpcer_at_apcer_5pct``, ``bpcer_at_apcer_10pct``, ``accuracy``, ``f1_macro``,
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
        "bpcer_at_apcer_10pct": bpcer_at_apcer(s, c, 0.10, **kw)[0],
        "accuracy": accuracy(s, c, t, **kw),
        "f1_macro": _opt(f1_macro(s, c, t, **kw)),
        "f1_weighted": _opt(f1_weighted(s, c, t, **kw)),
        "f2_weighted": _opt(f2_weighted(s, c, t, **kw)),
        "confusion_matrix": {"labels": ["bona_fide", "attack"], "matrix": m.tolist()},
        "per_class": per_class_table(s, c, t, **kw),
    }
