"""The one camera chain every frame goes through, live or attack: exposure, white balance, optics and motion blur, sensor noise, tone curve, sharpening, JPEG."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .config import SynthConfig
from .scene import _logu, _u


def _camera_params(rng, cfg: SynthConfig) -> dict:
    return {
        "exposure": round(_logu(rng, (0.7, 1.4)), 4),
        "wb": [round(float(v), 4) for v in rng.uniform(0.88, 1.12, 3)],
        "gamma": round(_u(rng, (0.8, 1.25)), 4),
        "blur": round(_u(rng, (0.3, 1.3)), 3),
        "motion": ([round(_u(rng, (1.5, 7.0)), 2), round(_u(rng, (0, 180)), 1)] if rng.random() < cfg.motion_blur_p else None),
        "shot": round(_logu(rng, (3e-4, 8e-3)), 6),
        "read": round(_logu(rng, (1e-6, 4e-4)), 8),
        "sharpen": round(_u(rng, (0.0, 0.7)), 3) if rng.random() < 0.6 else 0.0,
        "jpeg": int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)),
        "flicker": round(_u(rng, (0.0, 0.03)), 4),
    }


TONE = (0.0, 0.35)          # S-curve strength of a camera's tone mapping (``tone_curve``)
SATURATION = (0.0, 0.3)     # its saturation boost (``saturate``)


def tone_curve(x: np.ndarray, strength: float) -> np.ndarray:
    """A camera's S-shaped tone mapping on values in [0, 1]: blends ``x`` with smoothstep(x);
    0 and 1 and mid-grey stay put, shadows darken and highlights brighten by up to ``strength``."""
    if strength <= 0:
        return x
    return (1.0 - strength) * x + strength * (x * x * (3.0 - 2.0 * x))


def saturate(x: np.ndarray, boost: float) -> np.ndarray:
    """Scale each BGR pixel's distance from its luma by 1 + ``boost`` (grey stays grey)."""
    if boost <= 0:
        return x
    luma = (x @ np.array([0.114, 0.587, 0.299], np.float32))[:, :, None]
    return luma + (x - luma) * (1.0 + boost)


def tone_map(x: np.ndarray, params: dict) -> np.ndarray:
    """``tone_curve`` then ``saturate`` with a ``tone_params`` record (the capture camera's and the recording's)."""
    return saturate(tone_curve(x, params["tone"]), params["saturation"])


def unsharp(x: np.ndarray, amount: float, sigma: float) -> np.ndarray:
    """A camera's unsharp mask: ``x`` plus ``amount`` times its difference from a Gaussian blur."""
    return cv2.addWeighted(x, 1.0 + amount, cv2.GaussianBlur(x, (0, 0), sigma), -amount, 0)


def jpeg_roundtrip(img_u8: np.ndarray, quality: int) -> np.ndarray:
    """``img_u8`` encoded as JPEG at ``quality`` and decoded again."""
    ok, buf = cv2.imencode(".jpg", img_u8, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def tone_params(rng) -> dict:
    """One camera's tone mapping and saturation, from the ranges every sample shares."""
    return {"tone": round(_u(rng, TONE), 4), "saturation": round(_u(rng, SATURATION), 4)}


def _motion_kernel(length: float, angle: float) -> np.ndarray:
    n = max(3, int(math.ceil(length)) | 1)
    k = np.zeros((n, n), np.float32)
    c = n // 2
    dx, dy = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    for t in np.linspace(-length / 2, length / 2, 4 * n):
        k[int(round(c + t * dy)) % n, int(round(c + t * dx)) % n] = 1.0
    return k / k.sum()


def _camera(scene: np.ndarray, cp: dict, rng) -> np.ndarray:
    """The shared camera: exposure/white balance, optics (+motion) blur, signal-dependent sensor
    noise, tone curve, sharpening, 8-bit JPEG. ``scene`` is float32 BGR in [0, ~1]."""
    gain = cp["exposure"] * (1.0 + cp["flicker"] * float(rng.uniform(-1, 1)))
    x = scene * (np.asarray(cp["wb"], np.float32) * gain)
    x = cv2.GaussianBlur(x, (0, 0), cp["blur"])
    if cp["motion"]:
        length = cp["motion"][0] * float(rng.uniform(0.6, 1.0))
        x = cv2.filter2D(x, -1, _motion_kernel(length, cp["motion"][1] + float(rng.uniform(-10, 10))))
    np.clip(x, 0.0, 1.0, out=x)
    sd = np.sqrt(cp["shot"] * x + cp["read"])
    x = x + sd * rng.standard_normal(x.shape, dtype=np.float32)
    np.clip(x, 0.0, 1.0, out=x)
    x = np.power(x, 1.0 / cp["gamma"], dtype=np.float32)
    if "tone" in cp:                                   # SynthConfig.camera_tone_p: 0 = never
        x = tone_map(x, cp)
    if cp["sharpen"] > 0:
        x = unsharp(x, cp["sharpen"], 1.2)
    return jpeg_roundtrip(np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8), cp["jpeg"])
