"""The ``torch-bf16`` scorer backend: the encoder in bfloat16, the head in float32.

On a CPU with native bfloat16 (Intel AMX or AVX512-BF16, which PyTorch's oneDNN convolutions
use) the resnet18 encoder runs in bfloat16, channels-last; the crops are normalised in float32
and rounded once, the 512-d embeddings come back as float32 and the window head stays float32.
bfloat16 keeps float32's range (no calibration, unlike int8) with an 8-bit mantissa: the
embeddings move by about 1 % (relative), p_spoof by at most 0.011 on the held-out windows of the
shipped model (README, "Performance"). A CPU without native bfloat16 would emulate it slowly, so the
backend refuses it with one line. On CUDA it is the PyTorch scorer under bfloat16 autocast.
"""

from __future__ import annotations

from ..errors import ConfigError
from .backends import TorchScorer
from .checkpoint import LoadedModel

__all__ = ["Bf16Scorer", "available_cores", "bf16_scorer", "native_bf16", "require_native_bf16"]


def native_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (AMX tiles or AVX512-BF16)."""
    import torch

    cpu = torch.cpu
    return bool(getattr(cpu, "_is_amx_tile_supported", lambda: False)()
                or getattr(cpu, "_is_avx512_bf16_supported", lambda: False)())


def require_native_bf16(backend: str) -> None:
    """Refuse ``backend`` with one line on a CPU without native bfloat16 (it would be emulated, slowly)."""
    if not native_bf16():
        raise ConfigError(f"backend {backend} needs a CPU with native bfloat16 (Intel AMX or AVX512-BF16) "
                          "and this one has neither; use --backend onnx or torch")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells, else the CPU count)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Bf16Scorer(TorchScorer):
    """PyTorch scorer on the CPU with the encoder in bfloat16, channels-last.

    It takes over ``loaded.model``: the encoder is converted in place, the head stays float32
    (:meth:`TorchScorer.head`). The loop keeps PyTorch at one thread for MTCNN, but a batch of
    crops is worth the cores, so each encoder call runs with ``threads`` threads (default: every
    core this process may use) and the caller's count is restored after it. (A dedicated encoder
    thread with its own OpenMP team was tried: its idle team competes with the loop, four faces
    31.6 FPS against the default's 34.2 in that bench run.) A thread that first runs PyTorch
    during such a call starts with ``threads``; :class:`~rtliveness.runtime.pipeline.LivenessPipeline`
    puts its own count back on every frame, so streams sharing a process keep theirs."""

    def __init__(self, loaded: LoadedModel, threads: int | None = None) -> None:
        import torch

        require_native_bf16("torch-bf16")
        super().__init__(loaded, device="cpu")
        self.model.encoder.to(torch.bfloat16).to(memory_format=torch.channels_last)
        self.threads = max(1, int(threads)) if threads is not None else available_cores()

    def _encode(self, t):
        """The encoder on a CPU float32 batch: rounded to bfloat16, channels-last, on ``threads``."""
        from .device import torch_threads

        torch = self._torch
        with torch_threads(self.threads):
            return self.model.embed(t.to(torch.bfloat16).contiguous(memory_format=torch.channels_last))


def bf16_scorer(loaded: LoadedModel, device: str, threads: int | None = None):
    """The ``torch-bf16`` backend's scorer for ``device`` (resolved); ``threads``: the encoder's
    intra-op threads on the CPU (None = every core this process may use)."""
    if device.startswith("cuda"):
        return TorchScorer(loaded, device=device, amp_dtype="bf16")
    return Bf16Scorer(loaded, threads=threads)
