"""The attacker's recording of a replayed face: what a video or photo went through before it was shown.

A screen replay shows a recording — made by some camera, tone-mapped, sharpened, resized and
compressed for storage or sharing — while a live face reaches the capture camera once. The
renderer's live and replay scenes both start from the same real media, so without this step a
replay differs from a live face only by the screen. :func:`record_source` adds that missing
generation to the replay's content (every frame with the same settings, JPEG per frame);
the capture camera (``camera.py``) then sees the screen as it sees every sample.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...types import FaceBox
from .camera import SATURATION, TONE, saturate, tone_curve
from .scene import _logu, _u

SOURCE_FACE_PX = (80.0, 360.0)   # face width in the attacker's recording, px (phone video to photo)
SOURCE_TONE = TONE               # the recording camera tones and saturates as the capture camera
SOURCE_SATURATION = SATURATION   # can (``camera.py``; on every sample with ``camera_tone_p`` 1)
SOURCE_SHARPEN = (0.0, 0.8)      # its unsharp mask
SOURCE_JPEG = (30, 85)           # storage / sharing compression


def source_params(rng, face_width: float) -> dict:
    """Draw one recording's settings for content whose face is ``face_width`` px wide."""
    face_px = _logu(rng, SOURCE_FACE_PX)
    return {
        "scale": round(min(1.0, face_px / max(face_width, 1.0)), 4),
        "tone": round(_u(rng, SOURCE_TONE), 4),
        "saturation": round(_u(rng, SOURCE_SATURATION), 4),
        "sharpen": round(_u(rng, SOURCE_SHARPEN), 4),
        "jpeg": int(rng.integers(SOURCE_JPEG[0], SOURCE_JPEG[1] + 1)),
    }


def record_frame(img_u8: np.ndarray, sp: dict) -> np.ndarray:
    """One frame through the recording: resize, S-curve, saturation, sharpening, JPEG (uint8 BGR in and out)."""
    h, w = img_u8.shape[:2]
    if sp["scale"] < 1.0:
        size = (max(4, int(round(w * sp["scale"]))), max(4, int(round(h * sp["scale"]))))
        img_u8 = cv2.resize(img_u8, size, interpolation=cv2.INTER_AREA)
    x = img_u8.astype(np.float32) * (1.0 / 255.0)
    x = saturate(tone_curve(x, sp["tone"]), sp["saturation"])
    a = sp["sharpen"]
    if a > 0:
        x = cv2.addWeighted(x, 1.0 + a, cv2.GaussianBlur(x, (0, 0), 1.0), -a, 0)
    u8 = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, int(sp["jpeg"])])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def record_source(contents: list, box: FaceBox, rng) -> tuple[list, FaceBox, dict]:
    """The replay's content frames after one recording (the same settings for every frame; a frame
    object repeated in ``contents`` is processed once), the face box in the new pixels, the settings."""
    sp = source_params(rng, box.width)
    done: dict = {}
    out = []
    for c in contents:
        if id(c) not in done:
            done[id(c)] = record_frame(c, sp)
        out.append(done[id(c)])
    k = sp["scale"]
    if k < 1.0:
        h, w = contents[0].shape[:2]
        nh, nw = out[0].shape[:2]
        kx, ky = nw / w, nh / h
        box = FaceBox(box.x1 * kx, box.y1 * ky, box.x2 * kx, box.y2 * ky)
    return out, box, sp
