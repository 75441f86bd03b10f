"""Pure drawing: an image and the verdicts of its frame → a new annotated image."""

from __future__ import annotations

import cv2
import numpy as np

from ..types import FrameResult

__all__ = ["draw_result", "COLORS_BGR"]

COLORS_BGR = {"live": (60, 200, 60), "spoof": (40, 40, 230), "pending": (0, 200, 230)}


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, color, thick: int) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


def draw_result(image_bgr: np.ndarray, result: FrameResult, fps: float | None = None) -> np.ndarray:
    """Box coloured by verdict, ``#id label score`` above it, FPS in the corner. Returns a copy."""
    out = image_bgr.copy()
    h, w = out.shape[:2]
    scale = max(0.35, min(1.0, h / 720.0))
    thick = 1 if h < 500 else 2
    for v in result.faces:
        color = COLORS_BGR[v.label]
        x1, y1, x2, y2 = v.box.as_list()
        cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), color, thick + 1)
        score = "" if v.p_spoof is None else f" {v.p_spoof:.2f}"
        label = f"#{v.track_id} {v.label}{score}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = y1 - 4 if y1 - th - 6 >= 0 else min(h - 2, y2 + th + 4)
        tx = max(0, min(x1, w - tw - 1))
        _text(out, label, (tx, ty), scale, color, thick)
    if fps is not None:
        _text(out, f"{fps:5.1f} FPS", (6, int(22 * scale) + 4), scale, (255, 255, 255), thick)
    return out
