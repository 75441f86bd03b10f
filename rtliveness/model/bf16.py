"""The ``torch-bf16`` scorer backend: the encoder in bfloat16, the head in float32.

On a CPU with native bfloat16 (Intel AMX or AVX512-BF16, which PyTorch's oneDNN convolutions
use) the resnet18 encoder runs in bfloat16, channels-last; the crops are normalised in float32
and rounded once, the 512-d embeddings come back as float32 and the window head stays float32.
bfloat16 keeps float32's range (no calibration, unlike int8) with an 8-bit mantissa: the
embeddings move by about 1 % (relative), p_spoof by at most 0.011 on the held-out windows of the
shipped model (README, "Speed"). A CPU without native bfloat16 would emulate it slowly, so the
backend refuses it with one line. On CUDA it is the PyTorch scorer under bfloat16 autocast.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ConfigError
from .backends import TorchScorer, preprocess_crops, sigmoid
from .checkpoint import LoadedModel

__all__ = ["Bf16Scorer", "native_bf16"]


def native_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (AMX tiles or AVX512-BF16)."""
    import torch

    cpu = torch.cpu
    return bool(getattr(cpu, "_is_amx_tile_supported", lambda: False)()
                or getattr(cpu, "_is_avx512_bf16_supported", lambda: False)())


class Bf16Scorer:
    """PyTorch scorer on the CPU with the encoder in bfloat16, channels-last (it takes over
    ``loaded.model``: its encoder is converted in place, its head stays float32)."""

    def __init__(self, loaded: LoadedModel, threads: int | None = None) -> None:
        import os

        import torch

        if not native_bf16():
            raise ConfigError("backend torch-bf16 needs a CPU with native bfloat16 (Intel AMX or AVX512-BF16) "
                              "and this one has neither; use --backend onnx or torch")
        self._torch = torch
        # the encoder's own intra-op threads (the loop keeps PyTorch at 1 thread for MTCNN; a batch of
        # crops is worth the cores): set around each call and restored after
        self.threads = max(1, int(threads if threads is not None else (os.cpu_count() or 1)))
        self.meta = loaded.meta
        self.device = "cpu"
        self._model = loaded.model.eval()
        self._encoder = self._model.encoder.to(torch.bfloat16).to(memory_format=torch.channels_last)

    def embed_array(self, x: np.ndarray) -> np.ndarray:
        """Normalised float32 NCHW crops → (N, 512) float32 embeddings."""
        torch = self._torch
        before = torch.get_num_threads()
        if before != self.threads:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                t = torch.from_numpy(x).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
                return self._encoder(t).float().numpy()
        finally:
            if before != self.threads:
                torch.set_num_threads(before)

    def embed(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        if len(crops_bgr) == 0:
            return np.zeros((0, 512), np.float32)
        return self.embed_array(preprocess_crops(crops_bgr, self.meta))

    def head(self, windows: np.ndarray) -> np.ndarray:
        torch = self._torch
        if len(windows) == 0:
            return np.zeros((0,), np.float64)
        with torch.inference_mode():
            logits = self._model.head(torch.from_numpy(np.asarray(windows, np.float32)))
        return sigmoid(logits.numpy().astype(np.float64))

    def close(self) -> None:
        self._encoder = self._model = None  # type: ignore[assignment]


def bf16_scorer(loaded: LoadedModel, device: str, threads: int | None = None):
    """The ``torch-bf16`` backend's scorer for ``device`` (resolved); ``threads``: the encoder's
    intra-op threads on the CPU (None = every core)."""
    if device.startswith("cuda"):
        return TorchScorer(loaded, device=device, amp_dtype="bf16")
    return Bf16Scorer(loaded, threads=threads)
