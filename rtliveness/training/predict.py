"""Training windows to model input, and p_spoof for a batch of windows (training and evaluation)."""

from __future__ import annotations

import numpy as np
import torch

from ..model.backends import preprocess_crops
from ..model.checkpoint import ModelMeta
from ..model.spoofmodel import SpoofModel

__all__ = ["to_tensor", "predict_windows"]


def to_tensor(windows_bgr: np.ndarray, meta: ModelMeta, flips: np.ndarray | None = None) -> torch.Tensor:
    """(B, 5, S, S, 3) uint8 BGR → (B, 5, 3, S, S) normalised float32 (optionally flipped)."""
    b, t, s = windows_bgr.shape[:3]
    arr = windows_bgr
    if flips is not None and flips.any():
        arr = arr.copy()
        arr[flips] = arr[flips][:, :, :, ::-1]  # the same flip for all 5 crops of a window
    x = preprocess_crops(list(arr.reshape(b * t, s, s, 3)), meta)
    return torch.from_numpy(x).view(b, t, 3, s, s)


@torch.inference_mode()
def predict_windows(model: SpoofModel, windows_bgr: np.ndarray, meta: ModelMeta, device: str,
                    batch_size: int = 32) -> np.ndarray:
    """p_spoof for each (5, S, S, 3) window."""
    model.eval()
    out = []
    for i in range(0, len(windows_bgr), batch_size):
        x = to_tensor(windows_bgr[i:i + batch_size], meta).to(device)
        out.append(torch.sigmoid(model(x).float()).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)
