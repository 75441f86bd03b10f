"""Runs the SpoofModel: crops of all faces in a frame are embedded in one batch; full windows
of embeddings go through the head. The device is resolved here from ``auto|cpu|cuda[:N]``."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
import torch

from .config import parse_device
from .errors import ConfigError
from .model import LoadedModel, ModelMeta

__all__ = ["resolve_device", "Scorer", "TorchScorer", "preprocess_crops", "sigmoid"]


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when available else ``cpu``; ``cuda[:N]`` is checked to exist."""
    device = parse_device(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
        idx = int(device.split(":")[1]) if ":" in device else 0
        if idx >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r} does not exist (this machine has {torch.cuda.device_count()} CUDA devices)")
    return device


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def preprocess_crops(crops_bgr: Sequence[np.ndarray], meta: ModelMeta) -> np.ndarray:
    """BGR uint8 crops (already ``input_size``) → normalised float32 NCHW in the checkpoint's
    colour order. The same arithmetic as the training transforms (ToTensor + Normalize)."""
    batch = np.stack(crops_bgr).astype(np.float32) * (1.0 / 255.0)
    if meta.color_order == "RGB":
        batch = batch[..., ::-1]
    mean = np.asarray(meta.mean, np.float32)
    std = np.asarray(meta.std, np.float32)
    batch = (batch - mean) / std
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


class Scorer(Protocol):
    meta: ModelMeta

    def embed(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """(N crops) → (N, 512) float32 embeddings."""
        ...

    def head(self, windows: np.ndarray) -> np.ndarray:
        """(B, 5, 512) → (B,) p_spoof in [0, 1]."""
        ...


class TorchScorer:
    """PyTorch backend on CPU or CUDA (fp32; optional fp16/bf16 autocast on CUDA)."""

    def __init__(self, loaded: LoadedModel, device: str = "auto", amp_dtype: str | None = None) -> None:
        self.meta = loaded.meta
        self.device = resolve_device(device)
        self.model = loaded.model.to(self.device).eval()
        self._amp = None
        if amp_dtype is not None and self.device.startswith("cuda"):
            self._amp = {"fp16": torch.float16, "bf16": torch.bfloat16}[amp_dtype]

    @torch.inference_mode()
    def embed(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        if len(crops_bgr) == 0:
            return np.zeros((0, 512), np.float32)
        x = torch.from_numpy(preprocess_crops(crops_bgr, self.meta)).to(self.device, non_blocking=True)
        if self._amp is not None:
            with torch.autocast("cuda", dtype=self._amp):
                e = self.model.embed(x)
        else:
            e = self.model.embed(x)
        return e.float().cpu().numpy()

    @torch.inference_mode()
    def head(self, windows: np.ndarray) -> np.ndarray:
        if len(windows) == 0:
            return np.zeros((0,), np.float64)
        x = torch.from_numpy(np.asarray(windows, np.float32)).to(self.device)
        logits = self.model.head(x).float().cpu().numpy().astype(np.float64)
        return sigmoid(logits)
