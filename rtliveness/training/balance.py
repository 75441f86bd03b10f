"""Per-sample loss weights that balance the training classes the way ISO/IEC 30107-3 scores them.

ACER averages BPCER with the *worst* attack family's APCER, but a training set rarely holds the
families in equal numbers (here: NUAA brings hundreds of printed windows, the renderer a few dozen
replays). Unweighted, the rarest family teaches the model least and ends up the worst.
``family_weights`` gives bona fide and attacks half of the loss each, and every attack family
present an equal share of the attack half; the weights average to 1, so the learning rate keeps
its meaning. Pure: class names in, weights out.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

__all__ = ["BALANCE_MODES", "family_weights"]

#: ``none``: every sample weighs 1 (the origin recipe); ``families``: see :func:`family_weights`
BALANCE_MODES = ("none", "families")


def family_weights(class_names: Sequence[str], bona_fide: str = "real") -> np.ndarray:
    """(N,) float32 weights: bona fide samples share 1/2 of the total, each attack family present
    an equal part of the other 1/2 (all of it goes to whichever side is present if only one is);
    the mean weight is 1."""
    n = len(class_names)
    if n == 0:
        return np.zeros(0, np.float32)
    counts = Counter(class_names)
    families = [c for c in counts if c != bona_fide]
    share: dict[str, float] = {}
    has_bf = bona_fide in counts
    attack_half = 0.5 if has_bf and families else (1.0 if families else 0.0)
    if has_bf:
        share[bona_fide] = 1.0 - attack_half
    for c in families:
        share[c] = attack_half / len(families)
    return np.array([n * share[c] / counts[c] for c in class_names], np.float32)
