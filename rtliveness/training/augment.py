"""Label-blind augmentations of whole training windows (B, T, S, S, 3) uint8 BGR: framing and
photometric jitter, a per-crop wobble, static (photo-like) and grey windows. Each draw never looks
at a label and returns a new array."""

from __future__ import annotations

import numpy as np

__all__ = ["still_windows", "gray_windows", "jitter_windows", "crop_wobble"]


def still_windows(windows: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """``share`` of the windows (B, T, ...) made static: every crop replaced by one of them (drawn
    at random), what the deployed loop's window holds for a photo (``rtliveness run photo.jpg``).
    The draw never looks at a label. Returns a new array; the input is not changed."""
    pick = rng.random(len(windows)) < share
    which = rng.integers(windows.shape[1], size=len(windows))
    out = windows.copy()
    out[pick] = windows[pick, which[pick]][:, None]
    return out


def gray_windows(windows: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """``share`` of the BGR windows (B, T, H, W, 3) turned grey — every crop of a picked window,
    the grey level in all three channels — as an infrared or night-mode camera delivers a face.
    The draw never looks at a label. Returns a new array; the input is not changed."""
    from .degrade import to_gray

    pick = rng.random(len(windows)) < share
    out = windows.copy()
    for i in np.flatnonzero(pick):
        for t in range(windows.shape[1]):
            out[i, t] = to_gray(windows[i, t])
    return out


def jitter_windows(windows_bgr: np.ndarray, params: np.ndarray, crop_params: np.ndarray | None = None) -> np.ndarray:
    """Framing and photometric jitter of whole windows, optionally with a per-crop framing wobble.

    ``params`` rows: (zoom in [0.85, 1], shift x, shift y in [-1, 1], brightness, contrast), the same
    for all 5 crops of a window. ``crop_params`` (B, 5, 3): per-crop (zoom change, shift x, shift y)
    as fractions of the crop side, added to the window's framing. A zoom change can only narrow the
    view (nothing wider than the stored crop exists, so a zoom-out draw leaves the zoom as it is);
    a shift may pull a few reflected border pixels in at the edge."""
    import cv2

    out = np.empty_like(windows_bgr)
    s = windows_bgr.shape[2]
    for i, (zoom, sx, sy, bright, contrast) in enumerate(params):
        for j in range(windows_bgr.shape[1]):
            z, dx, dy = (zoom, 0.0, 0.0) if crop_params is None else (
                min(1.0, zoom * (1.0 + crop_params[i, j, 0])), crop_params[i, j, 1] * s, crop_params[i, j, 2] * s)
            side = z * s
            free = s - side
            x0, y0 = free * (sx + 1) / 2 + dx, free * (sy + 1) / 2 + dy
            a = np.array([[s / side, 0, -x0 * s / side], [0, s / side, -y0 * s / side]], np.float32)
            img = cv2.warpAffine(windows_bgr[i, j], a, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            img = img.astype(np.float32) * contrast + (bright + (1 - contrast) * 128.0)
            out[i, j] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def crop_wobble(rng: np.random.Generator, n: int, window: int, amount: float) -> np.ndarray:
    """(n, window, 3) per-crop (zoom change, shift x, shift y), each uniform in [-amount, amount]."""
    return rng.uniform(-amount, amount, (n, window, 3))
