"""Low-light lift: brighten a dark face crop before it is scored, as a camera's auto gain would.

A crop whose mean grey level is under ``target`` (a fraction of full scale: 0.35 = about 89 of
255) is multiplied up to ``target``, at most by :data:`rtliveness.config.LOW_LIGHT_MAX_GAIN`; a
crop at or above ``target`` is returned unchanged. The mean is over the whole crop, background
included, so a lit face against a dark background can be lifted too. It acts on the crop only
(the detector sees the frame as it is), after :func:`rtliveness.runtime.crop.crop_face`, in the
loop (``run``, the API, the service and the fleet). ``target=0`` turns it off; the default (off)
and its check live in :mod:`rtliveness.config` (``LOW_LIGHT_TARGET``).
"""

from __future__ import annotations

import numpy as np

from ..config import LOW_LIGHT_MAX_GAIN, check_low_light_target

__all__ = ["lift_low_light"]


def lift_low_light(crop_bgr: np.ndarray, target: float, max_gain: float = LOW_LIGHT_MAX_GAIN) -> np.ndarray:
    """``crop_bgr`` (uint8) multiplied up to mean grey ``target`` when darker, else itself."""
    if target == 0.0:  # off, the default
        return crop_bgr
    if not (isinstance(target, (int, float)) and 0.0 < target < 1.0):
        target = check_low_light_target(target)  # raises for a bad value; no float() per crop otherwise
    import cv2

    mean = float(cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY).mean()) / 255.0
    if mean >= target:
        return crop_bgr
    gain = min(target / max(mean, 1e-3), max_gain)
    return np.clip(crop_bgr.astype(np.float32) * gain, 0, 255).astype(np.uint8)
