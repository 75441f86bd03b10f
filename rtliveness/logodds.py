"""Log-odds: the one place of the logit / sigmoid pair.

The spoof logit of :class:`~rtliveness.model.spoofmodel.SpoofModel` becomes ``p_spoof`` through
:func:`sigmoid` (every backend), and thresholds are moved in log-odds through :func:`logit`
(``decide``'s confidence bounds, the stored threshold's place in the dev gap). Both work on a
Python float or a NumPy array; callers clip probabilities away from 0 and 1 where they may meet
them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["logit", "sigmoid"]


def logit(p):
    """``log(p / (1 - p))``, elementwise; ``p`` strictly inside (0, 1)."""
    p = np.asarray(p, np.float64)
    return np.log(p / (1.0 - p))


def sigmoid(z):
    """``1 / (1 + exp(-z))``, elementwise, ``z`` clipped to [-60, 60] (no overflow warning)."""
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))
