"""The ``openvino-bf16`` scorer backend (optional extra: ``pip install 'rtliveness[openvino]'``).

Intel's OpenVINO runtime runs the ONNX export of the checkpoint (the same cached
``encoder.onnx`` / ``head.onnx`` as the ``onnx`` backend, :func:`~rtliveness.model.export.cached_export`)
on the CPU: the encoder with bfloat16 inference precision, which OpenVINO's CPU plugin computes
with AMX tiles or AVX512-BF16, the window head in float32. Preprocessing is the shared
:func:`~rtliveness.model.backends.preprocess_crops` (float32), so the only difference from the
float encoder is bfloat16 arithmetic inside the encoder: the same numerics as the ``torch-bf16``
backend (no calibration, unlike int8), a few times faster than ONNX Runtime's float32 for one
crop as well as for a batch (README, "Performance"). A CPU without native bfloat16 is refused
with one line, as ``torch-bf16`` does (:func:`~rtliveness.model.bf16.native_bf16`); CUDA is
refused too (use ``--backend onnx`` or ``torch`` there). ``openvino`` is imported lazily.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ClosedError, ConfigError, WeightsError
from ..logodds import sigmoid
from .backends import preprocess_crops
from .checkpoint import ModelMeta
from .export import ENCODER_FILE, HEAD_FILE, cached_export_meta
from .dims import EMBED_DIM

__all__ = ["OpenVinoScorer", "OPENVINO_HINT"]

OPENVINO_HINT = "install the [openvino] extra: pip install 'rtliveness[openvino]'"


def _import_openvino():
    try:
        import openvino  # noqa: WPS433 - optional dependency, imported lazily
    except ImportError as exc:
        raise ConfigError(f"backend openvino-bf16 needs OpenVINO, which is not installed; {OPENVINO_HINT}") from exc
    return openvino


class OpenVinoScorer:
    """The :class:`~rtliveness.model.backends.Scorer` protocol on OpenVINO's CPU plugin.

    ``precision`` is the encoder's inference precision (``bf16`` or ``f32``); the head always runs
    in float32. ``threads``: the encoder's and head's CPU threads (None =
    :func:`~rtliveness.model.onnx.default_ort_threads`, the same count as ONNX Runtime's). One
    inference stream, latency hint, no core pinning: the loop's other threads (decode, MTCNN) keep
    their cores between two calls."""

    def __init__(self, folder: Path, info: dict, precision: str = "bf16", threads: int | None = None,
                 meta: ModelMeta | None = None) -> None:
        from .onnx import default_ort_threads

        if precision not in ("bf16", "f32"):
            raise ValueError(f"precision must be bf16 or f32, got {precision!r}")
        ov = _import_openvino()
        self.path = Path(folder)
        self.meta: ModelMeta = meta if meta is not None else ModelMeta.from_dict(info["meta"])
        self.info = {**info, "meta": self.meta.to_dict()}
        self.precision = precision
        self.threads = int(threads) if threads is not None else default_ort_threads()
        core = ov.Core()

        def compile_(name: str, hint: str):
            config = {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
                      "INFERENCE_NUM_THREADS": str(self.threads), "ENABLE_CPU_PINNING": "NO"}
            try:
                return core.compile_model(str(self.path / name), "CPU", config).create_infer_request()
            except Exception as exc:  # OpenVINO raises its own exception types
                raise WeightsError(f"OpenVINO cannot load {self.path / name}: "
                                  f"{(str(exc).splitlines() or [type(exc).__name__])[0][:200]}; "
                                   "export it again") from exc

        self._enc = compile_(ENCODER_FILE, precision)
        self._head = compile_(HEAD_FILE, "f32")
        self._lock = threading.Lock()  # an infer request serves one call at a time; callers may be threads

    @classmethod
    def from_checkpoint(cls, weights: Path | None = None, verify_checksum: bool = True, precision: str = "bf16",
                        threads: int | None = None, cache_dir: Path | None = None) -> "OpenVinoScorer":
        """Export ``weights`` (None = bundled) once into the ONNX cache and compile it; the
        threshold, security levels and preprocessing are the checkpoint's own, not the cache's."""
        from . import bf16

        _import_openvino()  # fail fast with the install hint before any export work
        if precision == "bf16":
            bf16.require_native_bf16("openvino-bf16")
        folder, info, meta = cached_export_meta(weights, verify_checksum=verify_checksum, cache_dir=cache_dir)
        return cls(folder, info, precision=precision, threads=threads, meta=meta)

    def _run(self, request, array: np.ndarray) -> np.ndarray:
        if request is None:
            raise ClosedError("this scorer is closed (close() was called); build a new one")
        with self._lock:
            return np.array(request.infer({0: np.ascontiguousarray(array, np.float32)})[0], np.float32)

    def embed_array(self, x: np.ndarray) -> np.ndarray:
        """Already-normalised ``(N, 3, S, S)`` float32 → ``(N, 512)`` float32."""
        if len(x) == 0:
            return np.zeros((0, EMBED_DIM), np.float32)
        return self._run(self._enc, x)

    def embed(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        if len(crops_bgr) == 0:
            return np.zeros((0, EMBED_DIM), np.float32)
        return self.embed_array(preprocess_crops(crops_bgr, self.meta))

    def head(self, windows: np.ndarray) -> np.ndarray:
        w = np.asarray(windows, np.float32)
        if len(w) == 0:
            return np.zeros((0,), np.float64)
        if w.ndim != 3 or w.shape[1] != self.meta.window or w.shape[2] != EMBED_DIM:
            raise ValueError(f"head expects (B, {self.meta.window}, {EMBED_DIM}), got {tuple(w.shape)}")
        return sigmoid(self._run(self._head, w).astype(np.float64).reshape(-1))

    def close(self) -> None:
        """Release both compiled models."""
        self._enc = None
        self._head = None
