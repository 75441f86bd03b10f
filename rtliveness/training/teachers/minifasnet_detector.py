"""The teacher's own face detector: Silent-Face's RetinaFace Caffe model run by ``cv2.dnn``."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ...errors import WeightsError
from .minifasnet_constants import DETECTOR_CAFFEMODEL, DETECTOR_PROTOTXT

__all__ = ["RetinaFaceCaffeDetector"]


class RetinaFaceCaffeDetector:
    """The teacher's face detector: Silent-Face's RetinaFace (MobileNet) Caffe model in ``cv2.dnn``.

    The frame is resized to about 192x192 pixels of area keeping its aspect ratio (frames
    already smaller are used as they are), mean (104, 117, 123) is subtracted, and the most
    confident detection is returned as integer (x, y, w, h) in frame pixels, the way the teacher
    was fed. Detections under ``min_confidence`` (the 0.6 of the source) count as no face.
    """

    def __init__(self, folder: str | Path, min_confidence: float = 0.6, area_side: int = 192) -> None:
        folder = Path(folder)
        missing = [n for n in (DETECTOR_PROTOTXT, DETECTOR_CAFFEMODEL) if not (folder / n).is_file()]
        if missing:
            raise WeightsError(f"teacher folder {folder} lacks the face detector file(s) {', '.join(missing)}")
        try:
            self._net = cv2.dnn.readNetFromCaffe(str(folder / DETECTOR_PROTOTXT), str(folder / DETECTOR_CAFFEMODEL))
        except cv2.error as exc:
            raise WeightsError(f"cannot load the RetinaFace detector from {folder}: {str(exc).strip().splitlines()[-1][:200]}") from exc
        self.min_confidence = min_confidence
        self.area_side = area_side

    def detect(self, image_bgr: np.ndarray) -> tuple[int, int, int, int] | None:
        """The most confident face as (x, y, w, h) pixels (may reach past the frame), or None."""
        h, w = image_bgr.shape[:2]
        small = image_bgr
        if w * h >= self.area_side * self.area_side:
            root = math.sqrt(w / h)
            small = cv2.resize(image_bgr, (int(self.area_side * root), int(self.area_side / root)),
                               interpolation=cv2.INTER_LINEAR)
        blob = cv2.dnn.blobFromImage(small, 1.0, mean=(104, 117, 123))
        self._net.setInput(blob, "data")
        rows = np.asarray(self._net.forward("detection_out")).reshape(-1, 7)
        if len(rows) == 0:
            return None
        best = rows[int(np.argmax(rows[:, 2]))]
        if not np.isfinite(best).all() or best[2] < self.min_confidence:
            return None
        left, top, right, bottom = best[3] * w, best[4] * h, best[5] * w, best[6] * h
        bw, bh = int(right - left + 1), int(bottom - top + 1)
        if bw < 2 or bh < 2:
            return None
        return int(left), int(top), bw, bh
