"""Input checks shared by every PAD metric: scores, class names, attack masks, thresholds.

The conventions (``score`` = ``p_spoof``, bona fide class ``"real"``, degenerate inputs) are
described in :mod:`rtliveness.training.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["BONA_FIDE", "ArrayLike", "class_order"]

BONA_FIDE = "real"
"""Default name of the bona fide class."""

ArrayLike = Sequence[Any] | np.ndarray


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
