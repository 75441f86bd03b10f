"""95 % bootstrap intervals over identities for the ISO/IEC 30107-3 figures.

Samples of one person are not independent (same face, same session, same camera), so the
interval resamples **identities** with replacement, keeping all of a drawn identity's samples,
and recomputes each metric at the fixed threshold (ranking metrics need no threshold). The
interval is the 2.5th and 97.5th percentile over the resamples where the metric is defined (a
resample without attacks has no APCER); ``None`` when fewer than half of them define it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .metrics_inputs import BONA_FIDE, ArrayLike, _classes, _scores, _threshold
from .metrics_iso import acer, apcer_max, bpcer
from .metrics_roc import eer, roc_auc

__all__ = ["bootstrap_intervals"]

_METRICS = ("apcer_max", "bpcer", "acer", "eer", "auc")


def _values(s: np.ndarray, c: np.ndarray, t: float, bona_fide: str) -> dict[str, float | None]:
    kw = {"bona_fide": bona_fide}
    both = (c == bona_fide).any() and (c != bona_fide).any()
    return {
        "apcer_max": apcer_max(s, c, t, **kw),
        "bpcer": bpcer(s, c, t, **kw),
        "acer": acer(s, c, t, **kw),
        "eer": eer(s, c, **kw)[0] if both else None,
        "auc": roc_auc(s, c, **kw) if both else None,
    }


def bootstrap_intervals(scores: ArrayLike, classes: ArrayLike, persons: Sequence[str], threshold: float, *,
                        n: int = 1000, seed: int = 0, bona_fide: str = BONA_FIDE) -> dict[str, Any]:
    """``{"identities": K, "resamples": n, "<metric>": [low, high] | None}`` for APCER (worst
    type), BPCER, ACER, EER and AUC; reproducible for a given ``seed``."""
    s = _scores(scores)
    c = _classes(classes, s.size)
    t = _threshold(threshold)
    p = np.asarray([str(x) for x in persons])
    if p.size != s.size:
        raise ValueError(f"persons has {p.size} entries for {s.size} scores")
    ids, inverse = np.unique(p, return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(ids.size)]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {m: [] for m in _METRICS}
    for _ in range(n):
        idx = np.concatenate([members[k] for k in rng.integers(0, ids.size, ids.size)])
        for m, v in _values(s[idx], c[idx], t, bona_fide).items():
            if v is not None:
                draws[m].append(float(v))
    out: dict[str, Any] = {"identities": int(ids.size), "resamples": int(n)}
    for m in _METRICS:
        d = draws[m]
        out[m] = None if len(d) < n / 2 else [float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))]
    return out
