"""Face crops: one function used identically by ``prepare``, ``synth``, training and ``run``.

A crop is the square of side ``scale * max(box width, box height)`` centred on the face box,
padded with edge-replicated pixels where it leaves the frame, resized to ``size`` pixels.
Context around the face (paper edges, fingers, screen bezels) is part of what the model sees,
so ``scale`` is stored in the checkpoint and never chosen twice.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..types import FaceBox

__all__ = ["crop_face", "square_region", "center_rescale"]


def square_region(box: FaceBox, scale: float) -> tuple[int, int, int, int]:
    """Integer (x1, y1, x2, y2) of the square crop region (may extend past the frame)."""
    cx, cy = box.center
    side = max(2.0, scale * max(box.width, box.height))
    half = side / 2.0
    x1 = int(np.floor(cx - half))
    y1 = int(np.floor(cy - half))
    s = int(round(side))
    return x1, y1, x1 + s, y1 + s


def crop_face(image_bgr: np.ndarray, box: FaceBox, scale: float, size: int) -> np.ndarray:
    """Square crop of ``scale`` x the face box, resized to ``size`` x ``size`` (BGR uint8)."""
    h, w = image_bgr.shape[:2]
    x1, y1, x2, y2 = square_region(box, scale)
    cx1, cy1, cx2, cy2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if cx2 <= cx1 or cy2 <= cy1:
        patch = np.zeros((1, 1, 3), np.uint8)
    else:
        patch = image_bgr[cy1:cy2, cx1:cx2]
    pad = (cy1 - y1, y2 - cy2, cx1 - x1, x2 - cx2)
    if any(p > 0 for p in pad):
        patch = cv2.copyMakeBorder(patch, *pad, borderType=cv2.BORDER_REPLICATE)
    side = patch.shape[0]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


def center_rescale(crop_bgr: np.ndarray, from_scale: float, to_scale: float, size: int) -> np.ndarray:
    """Turn a crop made at ``from_scale`` into the crop at ``to_scale`` (<= from_scale).

    Datasets store wide crops; training takes the centre fraction ``to_scale / from_scale`` so the
    crop scale can be chosen at training time without regenerating data.
    """
    if to_scale > from_scale + 1e-6:
        raise ValueError(f"cannot widen a crop from scale {from_scale} to {to_scale}")
    side = crop_bgr.shape[0]
    keep = side * to_scale / from_scale
    off = (side - keep) / 2.0
    a, b = int(round(off)), int(round(off + keep))
    patch = crop_bgr[a:b, a:b] if b - a >= 2 else crop_bgr
    interp = cv2.INTER_AREA if patch.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)
