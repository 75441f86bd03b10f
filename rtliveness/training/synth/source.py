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
from .camera import jpeg_roundtrip, tone_map, tone_params, unsharp
from .scene import _logu, _u

SOURCE_FACE_PX = (80.0, 360.0)   # face width in the attacker's recording, px (phone video to photo)
SOURCE_SHARPEN = (0.0, 0.8)      # its unsharp mask
SOURCE_JPEG = (30, 85)           # storage / sharing compression


def source_params(rng, face_width: float) -> dict:
    """Draw one recording's settings for content whose face is ``face_width`` px wide; its tone
    mapping and saturation come from the capture camera's ranges (``camera.tone_params``)."""
    face_px = _logu(rng, SOURCE_FACE_PX)
    return {
        "scale": round(min(1.0, face_px / max(face_width, 1.0)), 4),
        **tone_params(rng),
        "sharpen": round(_u(rng, SOURCE_SHARPEN), 4),
        "jpeg": int(rng.integers(SOURCE_JPEG[0], SOURCE_JPEG[1] + 1)),
    }


def record_frame(img_u8: np.ndarray, sp: dict) -> np.ndarray:
    """One frame through the recording: resize, S-curve, saturation, sharpening, JPEG (uint8 BGR in and out)."""
    h, w = img_u8.shape[:2]
    if sp["scale"] < 1.0:
        size = (max(4, int(round(w * sp["scale"]))), max(4, int(round(h * sp["scale"]))))
        img_u8 = cv2.resize(img_u8, size, interpolation=cv2.INTER_AREA)
    x = tone_map(img_u8.astype(np.float32) * (1.0 / 255.0), sp)
    if sp["sharpen"] > 0:
        x = unsharp(x, sp["sharpen"], 1.0)
    return jpeg_roundtrip(np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8), sp["jpeg"])


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
