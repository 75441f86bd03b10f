"""Scorer backends: the ``Scorer`` protocol, the shared preprocessing, and the one registry of
backends (``torch``, ``onnx``, ``onnx-int8``, ``torch-bf16``, ``openvino-bf16``; a new backend such as
TensorRT is one class plus one :func:`register_backend` call).

A scorer embeds the crops of all faces in a frame in one batch and runs full windows of
embeddings through the head. Every backend receives a :class:`BackendSpec` — weights, the
resolved device, execution providers, thread count — and honours the device or fails with one
clear line.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from ..errors import ClosedError, ConfigError
from ..logodds import sigmoid
from .dims import EMBED_DIM
from .checkpoint import LoadedModel, ModelMeta

__all__ = [
    "Scorer",
    "BackendSpec",
    "TorchScorer",
    "preprocess_crops",
    "register_backend",
    "backend_names",
    "build_scorer",
    "choose_backend",
]


@lru_cache(maxsize=8)
def _normalise_table(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(256, 3) float32: ``(v / 255 - mean[c]) / std[c]`` for every uint8 value ``v`` and channel
    ``c``, computed with exactly the float32 operations of ToTensor + Normalize."""
    v = np.arange(256, dtype=np.float32) * np.float32(1.0 / 255.0)
    table = (v[:, None] - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    table.setflags(write=False)
    return table


def preprocess_crops(crops_bgr: Sequence[np.ndarray], meta: ModelMeta) -> np.ndarray:
    """BGR uint8 crops (already ``input_size``) → normalised float32 NCHW in the checkpoint's
    colour order. The same arithmetic as the training transforms (ToTensor + Normalize), looked
    up per uint8 value: bit-identical to them (about as fast as a contiguous per-pixel pass,
    ``benchmarks/preprocess_table.py``)."""
    batch = np.stack(crops_bgr)
    table = _normalise_table(tuple(meta.mean), tuple(meta.std))
    out = np.empty((batch.shape[0], 3) + batch.shape[1:3], np.float32)
    source = (2, 1, 0) if meta.color_order == "RGB" else (0, 1, 2)  # model channel c ← BGR channel
    for c, b in enumerate(source):
        np.take(table[:, c], batch[..., b], out=out[:, c])
    return out


class Scorer(Protocol):
    meta: ModelMeta

    def embed(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """(N crops) → (N, 512) float32 embeddings."""
        ...

    def head(self, windows: np.ndarray) -> np.ndarray:
        """(B, 5, 512) → (B,) p_spoof in [0, 1]."""
        ...


@dataclass(frozen=True)
class BackendSpec:
    """What every backend receives."""

    weights: Path | None = None  # None = the bundled weights
    device: str = "cpu"  # resolved: cpu | cuda | cuda:N
    providers: tuple | None = None  # ONNX Runtime execution providers (None = from the device)
    verify_checksum: bool = True
    threads: int | None = None  # intra-op threads (None = the backend's default)


class TorchScorer:
    """PyTorch backend on CPU or CUDA (fp32; optional fp16/bf16 autocast on CUDA)."""

    def __init__(self, loaded: LoadedModel, device: str = "cpu", amp_dtype: str | None = None) -> None:
        import torch

        from .device import resolve_device

        self._torch = torch
        self.meta = loaded.meta
        self.device = resolve_device(device)
        self.model = loaded.model.to(self.device).eval()
        self._amp = None
        if amp_dtype is not None and self.device.startswith("cuda"):
            self._amp = {"fp16": torch.float16, "bf16": torch.bfloat16}[amp_dtype]

    def embed(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        if len(crops_bgr) == 0:
            return np.zeros((0, EMBED_DIM), np.float32)
        return self.embed_array(preprocess_crops(crops_bgr, self.meta))

    def embed_array(self, x: np.ndarray) -> np.ndarray:
        """Normalised float32 NCHW crops (:func:`preprocess_crops`) → (N, 512) float32 embeddings."""
        torch = self._torch
        if self.model is None:
            raise ClosedError("this scorer is closed (close() was called); build a new one")
        with torch.inference_mode():
            return self._encode(torch.from_numpy(x)).float().cpu().numpy()

    def _encode(self, t):
        """The encoder on a CPU float32 batch (moved to the device, under autocast if asked)."""
        t = t.to(self.device, non_blocking=True)
        if self._amp is None:
            return self.model.embed(t)
        with self._torch.autocast("cuda", dtype=self._amp):
            return self.model.embed(t)

    def head(self, windows: np.ndarray) -> np.ndarray:
        torch = self._torch
        if self.model is None:
            raise ClosedError("this scorer is closed (close() was called); build a new one")
        if len(windows) == 0:
            return np.zeros((0,), np.float64)
        with torch.inference_mode():
            x = torch.from_numpy(np.asarray(windows, np.float32)).to(self.device)
            logits = self.model.head(x).float().cpu().numpy().astype(np.float64)
        return sigmoid(logits)

    def close(self) -> None:
        """Release the model (and its device memory)."""
        self.model = None  # type: ignore[assignment]


def _torch_backend(spec: BackendSpec) -> Scorer:
    from .checkpoint import load_checkpoint

    loaded = load_checkpoint(spec.weights, verify_checksum=spec.verify_checksum)
    return TorchScorer(loaded, device=spec.device)


def _torch_bf16_backend(spec: BackendSpec) -> Scorer:
    from .bf16 import bf16_scorer
    from .checkpoint import load_checkpoint

    return bf16_scorer(load_checkpoint(spec.weights, verify_checksum=spec.verify_checksum), spec.device, spec.threads)


def _onnx_backend(spec: BackendSpec, int8: bool = False) -> Scorer:
    from .onnx import OnnxScorer, providers_for_device  # optional extra, imported lazily

    providers = list(spec.providers) if spec.providers is not None else providers_for_device(spec.device)
    return OnnxScorer.from_checkpoint(spec.weights, verify_checksum=spec.verify_checksum, threads=spec.threads,
                                      providers=providers, int8=int8)


def _onnx_int8_backend(spec: BackendSpec) -> Scorer:
    return _onnx_backend(spec, int8=True)


def _openvino_bf16_backend(spec: BackendSpec) -> Scorer:
    from .openvino import OpenVinoScorer  # optional extra, imported lazily

    if spec.device != "cpu":
        raise ConfigError(f"backend openvino-bf16 runs on the CPU only, not {spec.device}; pass --device cpu, "
                          "or use --backend onnx or torch on the GPU")
    return OpenVinoScorer.from_checkpoint(spec.weights, verify_checksum=spec.verify_checksum, threads=spec.threads)


BackendFactory = Callable[[BackendSpec], Scorer]
_BACKENDS: dict[str, BackendFactory] = {"torch": _torch_backend, "onnx": _onnx_backend, "onnx-int8": _onnx_int8_backend,
                                         "torch-bf16": _torch_bf16_backend, "openvino-bf16": _openvino_bf16_backend}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Add a scorer backend under ``name`` (``--backend name``); it receives a :class:`BackendSpec`."""
    if not name or name == "auto":
        raise ValueError(f"invalid backend name {name!r}")
    _BACKENDS[name] = factory


def backend_names() -> tuple[str, ...]:
    return tuple(_BACKENDS)


def _onnx_usable() -> bool:
    """Whether the ``[onnx]`` extra is whole: ``onnx`` (the export the ONNX backend makes first)
    findable and ``onnxruntime`` importable. Other packages (uniface, insightface, rembg) pull in
    onnxruntime alone; an onnxruntime that fails to import counts as absent."""
    try:
        if importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None:
            return False
    except (ImportError, ValueError):  # a module set to None or without a spec
        return False
    try:
        from .ort import import_ort

        import_ort()
    except Exception:  # a broken install (missing shared library, ABI mismatch): PyTorch instead
        return False
    return True


def choose_backend(name: str, device: str) -> str:
    """``auto`` → ONNX Runtime on the CPU when the whole ``[onnx]`` extra (onnx and a working
    onnxruntime) is installed, else PyTorch."""
    if name == "auto":
        return "onnx" if device == "cpu" and _onnx_usable() else "torch"
    if name not in _BACKENDS:
        raise ConfigError(f"unknown backend {name!r}: use auto, {', '.join(_BACKENDS)}")
    return name


def build_scorer(name: str, spec: BackendSpec) -> Scorer:
    """Build the scorer registered as ``name`` (``auto`` resolved by :func:`choose_backend`)."""
    return _BACKENDS[choose_backend(name, spec.device)](spec)
