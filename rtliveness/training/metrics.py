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

The implementation is split by job; this module re-exports all of it, so
``from rtliveness.training.metrics import ...`` keeps working. It needs only numpy (no torch,
no cv2):

* :mod:`.metrics_inputs` — input checks and :func:`class_order`;
* :mod:`.metrics_iso` — APCER, BPCER, ACER at a threshold;
* :mod:`.metrics_roc` — ROC curve, AUC, EER;
* :mod:`.metrics_thresholds` — BPCER at a fixed APCER, threshold calibration;
* :mod:`.metrics_binary` — confusion matrix, accuracy, F-beta, per-class table;
* :mod:`.metrics_report` — :func:`evaluate_scores`, every metric at once.
"""

from __future__ import annotations

from .metrics_binary import accuracy, confusion_matrix, f1_macro, f1_weighted, f2_weighted, fbeta, per_class_table
from .metrics_inputs import BONA_FIDE, ArrayLike, class_order  # noqa: F401
from .metrics_iso import acer, apcer_max, apcer_per_type, bpcer
from .metrics_report import evaluate_scores
from .metrics_roc import eer, roc_auc, roc_curve
from .metrics_thresholds import bpcer_at_apcer, calibrate_threshold, deployment_threshold

# Private helpers, still importable from here for callers that used them (plots.py uses the checks).
from .metrics_binary import _fbeta_per_class  # noqa: F401
from .metrics_inputs import _classes, _is_attack, _ratio, _scores, _threshold  # noqa: F401
from .metrics_report import _opt  # noqa: F401
from .metrics_thresholds import _TOL, _operating_points  # noqa: F401

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
    "deployment_threshold",
    "evaluate_scores",
]
