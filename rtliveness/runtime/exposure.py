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

__all__ = ["lift_low_light", "looks_grey", "GreyFaceWatch"]

#: a face region whose channels differ by at most this many grey levels on average has no colour
#: (grey stored as BGR comes back from mp4v / MJPG within 2.5; a colour face, even a pale one in
#: a dim webcam frame, differs by 12 or more)
GREY_TOLERANCE = 4.0
#: a face region darker than this mean level is not judged (its colour differences shrink with it:
#: a colour face at a third of its light still differs by 12)
GREY_MIN_LEVEL = 20.0


def looks_grey(region_bgr: np.ndarray) -> bool | None:
    """Whether a face region carries no colour (an infrared or night-mode camera), ``None`` when
    it is too dark or too small to tell. A 1-channel region is grey."""
    if region_bgr.ndim == 2 or region_bgr.shape[2] == 1:
        return True
    g = region_bgr[::2, ::2, :3].astype(np.int16)
    if g.size < 3 * 64 or g.mean() < GREY_MIN_LEVEL:
        return None
    spread = (np.abs(g[..., 0] - g[..., 1]).mean() + np.abs(g[..., 1] - g[..., 2]).mean()) / 2.0
    return bool(spread <= GREY_TOLERANCE)


class GreyFaceWatch:
    """A sink that looks at the first ``faces`` faces of a run (their boxes in the frame):
    :attr:`grey` is True when that many could be judged and every one had no colour. The bundled
    model scores many grey live faces as attacks (README, Limits); ``rtliveness run`` warns."""

    def __init__(self, faces: int = 5, tries: int = 100) -> None:
        self.faces = faces
        self.tries = tries  # faces looked at before giving up (too dark or too small to tell)
        self.judged = 0
        self.grey_faces = 0

    def write(self, frame, result) -> None:
        if self.judged >= self.faces or self.tries <= 0:
            return
        img = frame.image_bgr
        h, w = img.shape[:2]
        for v in result.faces:
            b = v.box
            region = img[max(0, int(b.y1)):min(h, int(b.y2)), max(0, int(b.x1)):min(w, int(b.x2))]
            self.tries -= 1
            verdict = looks_grey(region) if region.size else None
            if verdict is not None and self.judged < self.faces:
                self.judged += 1
                self.grey_faces += int(verdict)

    @property
    def grey(self) -> bool:
        return self.judged >= self.faces and self.grey_faces == self.judged

    def close(self) -> None:
        pass


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
