"""ONNX Runtime backend for the SpoofModel (optional extra: ``pip install 'rtliveness[onnx]'``).

The backend receives the device: ``cpu`` runs the CPU execution provider; ``cuda[:N]`` runs ONNX
Runtime's CUDA provider on that device, or fails with one clear line when that provider is not
installed (never a silent fall-back to the CPU). ``onnxruntime`` is imported lazily.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ClosedError, ConfigError, WeightsError
from ..logodds import sigmoid
from .backends import preprocess_crops
from .checkpoint import ModelMeta
from .ort import import_ort
from .export import ENCODER_FILE, HEAD_FILE, INSTALL_HINT, cached_export_meta, read_export
from .dims import EMBED_DIM

__all__ = ["OnnxScorer", "default_ort_threads", "providers_for_device"]


def _import_ort():
    try:
        ort = import_ort()
    except ImportError as exc:
        raise ConfigError(f"the onnx backend needs onnxruntime, which is not installed; {INSTALL_HINT}") from exc
    return ort


def default_ort_threads() -> int:
    """Intra-op threads for ONNX Runtime: ``$RTLIVENESS_ORT_THREADS`` or the CPU count capped at 4.

    The stream loop is sequential (detect → embed → head), so the encoder may use every core
    while it runs; more than 4 threads buy nothing for a batch of a few 112 px crops. On a 2-core
    machine this is 2 (measured faster than 1 for a resnet18 trunk at 112 and 224 px).
    """
    env = os.environ.get("RTLIVENESS_ORT_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError as exc:
            raise ConfigError(f"RTLIVENESS_ORT_THREADS must be an integer, got {env!r}") from exc
        if n < 1:
            raise ConfigError(f"RTLIVENESS_ORT_THREADS must be >= 1, got {n}")
        return n
    try:
        n = len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(4, n))


def providers_for_device(device: str) -> list:
    """ONNX Runtime execution providers for a resolved device string (``cpu``, ``cuda``, ``cuda:N``)."""
    if device.startswith("cuda"):
        index = int(device.split(":")[1]) if ":" in device else 0
        return [("CUDAExecutionProvider", {"device_id": index})]
    return ["CPUExecutionProvider"]


class OnnxScorer:
    """The :class:`~rtliveness.scorer.Scorer` protocol on ONNX Runtime.

    ``embed`` preprocesses exactly like TorchScorer and runs ``encoder.onnx``; ``head`` runs
    ``head.onnx`` and applies the sigmoid. CPU by default; pass ``providers`` (e.g.
    ``["CUDAExecutionProvider", "CPUExecutionProvider"]``) to use another execution provider.
    ``meta``: the scoring settings (threshold, security levels, preprocessing); None = the export's
    ``meta.json`` (an export folder the user named), :meth:`from_checkpoint` passes the checkpoint's.
    """

    def __init__(self, folder: Path, info: dict, threads: int | None = None,
                 providers: Sequence[str] | None = None, encoder_file: Path | None = None,
                 meta: ModelMeta | None = None) -> None:
        ort = _import_ort()
        self.path = Path(folder)
        self.encoder_file = Path(encoder_file) if encoder_file is not None else self.path / ENCODER_FILE
        self.meta: ModelMeta = meta if meta is not None else ModelMeta.from_dict(info["meta"])
        self.info = {**info, "meta": self.meta.to_dict()}
        self.threads = int(threads) if threads is not None else default_ort_threads()
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle ORT workers must not spin: on a small CPU they would steal the cores that the
        # decode thread, MTCNN and the encoder need between two embed calls.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        avail = set(ort.get_available_providers())
        if providers is None:
            providers = ["CPUExecutionProvider"]
        else:
            missing = [p if isinstance(p, str) else p[0] for p in providers]
            missing = [p for p in missing if p not in avail]
            if missing:
                raise ConfigError(f"ONNX Runtime execution providers {missing} are not available here (installed: "
                                  f"{sorted(avail)}); install onnxruntime-gpu for CUDA, or use --backend torch")
        self.providers = list(providers)
        try:
            self._enc = ort.InferenceSession(str(self.encoder_file), so, providers=self.providers)
            self._head = ort.InferenceSession(str(self.path / HEAD_FILE), so, providers=self.providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise WeightsError(f"cannot load the ONNX export {self.path}: {str(exc).splitlines()[0][:200]}; export it again") from exc

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_onnx(cls, path: Path, threads: int | None = None, providers: Sequence[str] | None = None,
                  encoder_file: Path | None = None) -> "OnnxScorer":
        """Load an export folder written by :func:`export_onnx` (or any file inside it)."""
        folder, info = read_export(Path(path))
        return cls(folder, info, threads=threads, providers=providers, encoder_file=encoder_file)

    @classmethod
    def from_checkpoint(cls, weights: Path | None = None, verify_checksum: bool = True, opset: int = 17,
                        threads: int | None = None, providers: Sequence[str] | None = None,
                        cache_dir: Path | None = None, int8: bool = False) -> "OnnxScorer":
        """Export ``weights`` (None = bundled) once into the cache (keyed by its sha256) and load it.

        ``int8=True`` (``--backend onnx-int8``, CPU only) uses the int8 encoder stored next to the
        weights, which must have been made from exactly these weights (see
        :mod:`rtliveness.model.quantize`); a missing one is a :class:`WeightsError`.

        The threshold, security levels and preprocessing are the checkpoint's own, never the
        cached ``meta.json``'s (a cache folder may be less trusted than the checkpoint)."""
        _import_ort()  # fail fast with the install hint before any export work
        folder, info, meta = cached_export_meta(weights, verify_checksum=verify_checksum, opset=opset,
                                                cache_dir=cache_dir)
        encoder = None
        if int8:
            from .checkpoint import default_weights_path
            from .quantize import require_int8_encoder

            cpu_only = all((p if isinstance(p, str) else p[0]) == "CPUExecutionProvider"
                           for p in (providers or ["CPUExecutionProvider"]))
            if not cpu_only:
                raise ConfigError("the int8 encoder runs on the CPU only; use --backend onnx on CUDA")
            path = Path(weights) if weights is not None else default_weights_path()
            encoder = require_int8_encoder(path, info.get("checkpoint_sha256", ""))
        return cls(folder, info, threads=threads, providers=providers, encoder_file=encoder, meta=meta)

    # ------------------------------------------------------------------ the Scorer protocol
    def embed_array(self, x: np.ndarray) -> np.ndarray:
        """Already-normalised ``(N, 3, S, S)`` float32 → ``(N, 512)`` float32."""
        if self._enc is None:
            raise ClosedError("this scorer is closed (close() was called); build a new one")
        if len(x) == 0:
            return np.zeros((0, EMBED_DIM), np.float32)
        (e,) = self._enc.run(None, {"crops": np.ascontiguousarray(x, dtype=np.float32)})
        return np.asarray(e, np.float32)

    def embed(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        if len(crops_bgr) == 0:
            return np.zeros((0, EMBED_DIM), np.float32)
        return self.embed_array(preprocess_crops(crops_bgr, self.meta))

    def logits(self, windows: np.ndarray) -> np.ndarray:
        """``(B, 5, 512)`` → ``(B,)`` float64 logits."""
        if self._head is None:
            raise ClosedError("this scorer is closed (close() was called); build a new one")
        w = np.ascontiguousarray(np.asarray(windows, np.float32))
        if w.ndim != 3 or w.shape[1] != self.meta.window or w.shape[2] != EMBED_DIM:
            raise ValueError(f"head expects (B, {self.meta.window}, {EMBED_DIM}), got {tuple(w.shape)}")
        (logits,) = self._head.run(None, {"windows": w})
        return np.asarray(logits, np.float64).reshape(-1)

    def head(self, windows: np.ndarray) -> np.ndarray:
        if self._head is None:
            raise ClosedError("this scorer is closed (close() was called); build a new one")
        if len(windows) == 0:
            return np.zeros((0,), np.float64)
        return sigmoid(self.logits(windows))

    def close(self) -> None:
        """Release both ONNX Runtime sessions."""
        self._enc = None
        self._head = None
