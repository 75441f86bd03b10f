"""The teacher's crop rule (:func:`teacher_region`, :func:`teacher_crop`) and the measured
MTCNN -> RetinaFace box mapping (:func:`teacher_box_from_mtcnn`; the measurement is described
in :mod:`.minifasnet`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .minifasnet_constants import INPUT_SIZE

__all__ = [
    "BoxXYWH",
    "teacher_region",
    "teacher_crop",
    "BoxMapping",
    "MTCNN_TO_RETINAFACE",
    "teacher_box_from_mtcnn",
]

BoxXYWH = tuple[float, float, float, float]


def teacher_region(frame_w: int, frame_h: int, box_xywh: Sequence[float], scale: float) -> tuple[int, int, int, int]:
    """Inclusive pixel bounds (x1, y1, x2, y2) of the teacher's crop of ``box_xywh`` at ``scale``.

    The box is scaled about its centre; the scale is first lowered to at most
    ``(frame_w - 1) / w`` and ``(frame_h - 1) / h`` so the region fits the frame, then the region is
    shifted back inside ``[0, frame_w - 1] x [0, frame_h - 1]`` and its corners truncated to integers.
    """
    x, y, bw, bh = (float(v) for v in box_xywh)
    if bw <= 0 or bh <= 0:
        raise ValueError(f"box width and height must be positive, got {tuple(box_xywh)}")
    scale = min(scale, (frame_h - 1) / bh, (frame_w - 1) / bw)
    cx, cy = x + bw / 2.0, y + bh / 2.0
    half_w, half_h = bw * scale / 2.0, bh * scale / 2.0
    x1, y1, x2, y2 = cx - half_w, cy - half_h, cx + half_w, cy + half_h
    if x1 < 0:
        x1, x2 = 0.0, x2 - x1
    if y1 < 0:
        y1, y2 = 0.0, y2 - y1
    if x2 > frame_w - 1:
        x1, x2 = x1 - (x2 - (frame_w - 1)), float(frame_w - 1)
    if y2 > frame_h - 1:
        y1, y2 = y1 - (y2 - (frame_h - 1)), float(frame_h - 1)
    return int(x1), int(y1), int(x2), int(y2)


def teacher_crop(image_bgr: np.ndarray, box_xywh: Sequence[float], scale: float, out_size: int = INPUT_SIZE,
                 interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """The teacher's input crop: :func:`teacher_region` cut out (bounds inclusive) and resized to
    ``out_size`` x ``out_size`` (bilinear by default, as the teacher was fed; a box that is not
    square is squeezed to the square input)."""
    h, w = image_bgr.shape[:2]
    x1, y1, x2, y2 = teacher_region(w, h, box_xywh, scale)
    patch = image_bgr[y1:y2 + 1, x1:x2 + 1]
    return cv2.resize(patch, (out_size, out_size), interpolation=interpolation)


@dataclass(frozen=True)
class BoxMapping:
    """The teacher's (RetinaFace) box predicted from an MTCNN box, in units of M, the longer side
    of the MTCNN box: its width and height, and the offset of its centre from the MTCNN centre."""

    width: float
    height: float
    dx: float
    dy: float


#: Median mapping measured on 871 real faces (see the docstring of :mod:`.minifasnet`).
MTCNN_TO_RETINAFACE = BoxMapping(width=0.890, height=0.899, dx=0.001, dy=0.056)


def teacher_box_from_mtcnn(box_x1y1x2y2: Sequence[float], mapping: BoxMapping = MTCNN_TO_RETINAFACE) -> BoxXYWH:
    """The RetinaFace-style (x, y, w, h) box the teacher would see for an MTCNN box (x1, y1, x2, y2).

    Use it with :meth:`MiniFasTeacher.score_frame` to score a face the project's detector found
    without running the teacher's detector.
    """
    x1, y1, x2, y2 = (float(v) for v in box_x1y1x2y2)
    side = max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2.0 + mapping.dx * side, (y1 + y2) / 2.0 + mapping.dy * side
    w, h = mapping.width * side, mapping.height * side
    return cx - w / 2.0, cy - h / 2.0, w, h
