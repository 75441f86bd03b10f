"""ISO/IEC 30107-3 error rates at a decision threshold: APCER (per attack type and worst case),
BPCER and ACER."""

from __future__ import annotations

import numpy as np

from .metrics_inputs import BONA_FIDE, ArrayLike, _classes, _is_attack, _ratio, _scores, _threshold, class_order

__all__ = ["apcer_per_type", "apcer_max", "bpcer", "acer"]


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
