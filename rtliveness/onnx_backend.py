"""ONNX Runtime backend for the SpoofModel (optional extra: ``pip install 'rtliveness[onnx]'``).

Export layout — ``export_onnx(weights, out)`` writes a **folder** ``out`` holding::

    encoder.onnx   crops  float32 (N, 3, S, S) -> embeddings float32 (N, 512)   dynamic N
    head.onnx      windows float32 (B, 5, 512) -> logits   float32 (B,)         dynamic B
    meta.json      {"format": "rtliveness-onnx", "version": 1, "opset": 17,
                    "checkpoint_sha256": "...", "checkpoint": "<path>", "meta": {ModelMeta.to_dict()}}

The encoder takes crops already normalised by :func:`rtliveness.scorer.preprocess_crops` (the
same arithmetic as :class:`~rtliveness.scorer.TorchScorer`), so both backends see identical
inputs. The head returns logits; :class:`OnnxScorer` applies the same sigmoid as TorchScorer.

:meth:`OnnxScorer.from_checkpoint` exports once into a cache folder keyed by the checkpoint's
sha256 (and the opset) — ``$RTLIVENESS_CACHE`` or ``$XDG_CACHE_HOME/rtliveness`` or
``~/.cache/rtliveness``, falling back to the system temp dir when that is not writable — and
reuses the export afterwards. The cache entry is written to a temporary sibling and renamed into
place, so a crash or two processes exporting at once never leave a half-written model.

``onnxruntime`` (and ``onnx`` for the export) are imported lazily; when missing a
:class:`~rtliveness.errors.ConfigError` says which extra to install.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ConfigError, WeightsError
from .model import EMBED_DIM, ModelMeta, default_weights_path, load_checkpoint, sha256_file
from .scorer import preprocess_crops, sigmoid

__all__ = ["export_onnx", "OnnxScorer", "onnx_cache_dir", "default_ort_threads", "ONNX_FORMAT"]

ONNX_FORMAT = "rtliveness-onnx"
ONNX_VERSION = 1
ENCODER_FILE = "encoder.onnx"
HEAD_FILE = "head.onnx"
META_FILE = "meta.json"
_INSTALL_HINT = "install the [onnx] extra: pip install 'rtliveness[onnx]'"


def _import_ort():
    try:
        import onnxruntime as ort  # noqa: WPS433 - optional dependency, imported lazily
    except ImportError as exc:
        raise ConfigError(f"the onnx backend needs onnxruntime, which is not installed; {_INSTALL_HINT}") from exc
    return ort


def onnx_cache_dir() -> Path:
    """Where exported models are cached (see the module docstring)."""
    env = os.environ.get("RTLIVENESS_CACHE")
    if env:
        return Path(env) / "onnx"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "rtliveness" / "onnx"


def _writable_cache_dir() -> Path:
    for cand in (onnx_cache_dir(), Path(tempfile.gettempdir()) / f"rtliveness-{os.getuid() if hasattr(os, 'getuid') else 'user'}" / "onnx"):
        try:
            cand.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=cand, delete=True)
            probe.close()
            return cand
        except OSError:
            continue
    raise ConfigError("no writable cache folder for the ONNX export; set RTLIVENESS_CACHE to a writable folder")


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


# ---------------------------------------------------------------------------------------- export
def export_onnx(weights: Path | None, out: Path, opset: int = 17, verify_checksum: bool = True) -> Path:
    """Export the checkpoint ``weights`` (None = bundled) to the folder ``out``; returns ``out``.

    Writes ``encoder.onnx``, ``head.onnx`` and ``meta.json`` (see the module docstring). An
    existing ``out`` folder is replaced atomically (written beside it, then renamed).
    """
    try:
        import torch
        import onnx  # noqa: F401 - the TorchScript exporter needs it
    except ImportError as exc:
        raise ConfigError(f"exporting to ONNX needs the onnx package; {_INSTALL_HINT}") from exc
    from torch import nn

    path = Path(weights) if weights is not None else default_weights_path()
    loaded = load_checkpoint(path, verify_checksum=verify_checksum)
    digest = loaded.sha256 or sha256_file(path)
    model = loaded.model.float().cpu().eval()
    meta = loaded.meta
    s = int(meta.input_size)

    class _Encoder(nn.Module):
        def __init__(self, m) -> None:
            super().__init__()
            self.m = m

        def forward(self, crops):
            return self.m.embed(crops)

    class _Head(nn.Module):
        def __init__(self, m) -> None:
            super().__init__()
            self.m = m

        def forward(self, windows):
            return self.m.head(windows)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent))
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notes
            torch.onnx.export(
                _Encoder(model).eval(), (torch.zeros(2, 3, s, s),), str(tmp / ENCODER_FILE),
                input_names=["crops"], output_names=["embeddings"],
                dynamic_axes={"crops": {0: "N"}, "embeddings": {0: "N"}},
                opset_version=opset, do_constant_folding=True, dynamo=False,
            )
            torch.onnx.export(
                _Head(model).eval(), (torch.zeros(2, meta.window, EMBED_DIM),), str(tmp / HEAD_FILE),
                input_names=["windows"], output_names=["logits"],
                dynamic_axes={"windows": {0: "B"}, "logits": {0: "B"}},
                opset_version=opset, do_constant_folding=True, dynamo=False,
            )
        info = {
            "format": ONNX_FORMAT,
            "version": ONNX_VERSION,
            "opset": int(opset),
            "checkpoint": str(path),
            "checkpoint_sha256": digest,
            "meta": meta.to_dict(),
        }
        (tmp / META_FILE).write_text(json.dumps(info, indent=2) + "\n")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=out.name + ".", suffix=".old", dir=out.parent))
            os.replace(out, old / "x")
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, out)
        except OSError:
            if not (out / META_FILE).is_file():  # lost a race only if the winner left a full export
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _read_export(path: Path) -> tuple[Path, dict]:
    path = Path(path)
    folder = path.parent if path.is_file() else path
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raise WeightsError(f"{path} is not an rtliveness ONNX export (no {META_FILE}); create one with export_onnx()")
    try:
        info = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read {meta_path}: {exc}") from exc
    if not isinstance(info, dict) or info.get("format") != ONNX_FORMAT:
        raise WeightsError(f"{meta_path} is not an rtliveness ONNX export (format {info.get('format') if isinstance(info, dict) else None!r})")
    for name in (ENCODER_FILE, HEAD_FILE):
        if not (folder / name).is_file():
            raise WeightsError(f"ONNX export {folder} is incomplete: {name} is missing; export it again")
    return folder, info


# ---------------------------------------------------------------------------------------- scorer
class OnnxScorer:
    """The :class:`~rtliveness.scorer.Scorer` protocol on ONNX Runtime.

    ``embed`` preprocesses exactly like TorchScorer and runs ``encoder.onnx``; ``head`` runs
    ``head.onnx`` and applies the sigmoid. CPU by default; pass ``providers`` (e.g.
    ``["CUDAExecutionProvider", "CPUExecutionProvider"]``) to use another execution provider.
    """

    def __init__(self, folder: Path, info: dict, threads: int | None = None,
                 providers: Sequence[str] | None = None) -> None:
        ort = _import_ort()
        self.path = Path(folder)
        self.info = info
        self.meta: ModelMeta = ModelMeta.from_dict(info["meta"])
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
            missing = [p for p in providers if p not in avail]
            if missing:
                raise ConfigError(f"ONNX Runtime providers {missing} are not available here (have {sorted(avail)})")
        self.providers = list(providers)
        try:
            self._enc = ort.InferenceSession(str(self.path / ENCODER_FILE), so, providers=self.providers)
            self._head = ort.InferenceSession(str(self.path / HEAD_FILE), so, providers=self.providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise WeightsError(f"cannot load the ONNX export {self.path}: {str(exc).splitlines()[0][:200]}; export it again") from exc

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_onnx(cls, path: Path, threads: int | None = None, providers: Sequence[str] | None = None) -> "OnnxScorer":
        """Load an export folder written by :func:`export_onnx` (or any file inside it)."""
        folder, info = _read_export(Path(path))
        return cls(folder, info, threads=threads, providers=providers)

    @classmethod
    def from_checkpoint(cls, weights: Path | None = None, verify_checksum: bool = True, opset: int = 17,
                        threads: int | None = None, providers: Sequence[str] | None = None,
                        cache_dir: Path | None = None) -> "OnnxScorer":
        """Export ``weights`` (None = bundled) once into the cache (keyed by its sha256) and load it."""
        _import_ort()  # fail fast with the install hint before any export work
        path = Path(weights) if weights is not None else default_weights_path()
        if not path.is_file():
            # let load_checkpoint produce its usual one-line error
            load_checkpoint(path, verify_checksum=verify_checksum)
        digest = sha256_file(path)
        if verify_checksum:
            sidecar = path.with_name(path.name + ".sha256")
            if sidecar.is_file():
                text = sidecar.read_text().strip().split()
                if text and text[0].lower() != digest:
                    raise WeightsError(f"weights file {path} fails its sha256 check (expected {text[0][:12]}…, "
                                       f"got {digest[:12]}…); the file is corrupt or was replaced — re-download or retrain it")
        root = Path(cache_dir) if cache_dir is not None else _writable_cache_dir()
        folder = root / f"{digest[:32]}-opset{int(opset)}"
        try:
            _, info = _read_export(folder)
            if info.get("checkpoint_sha256") != digest:
                raise WeightsError("stale cache entry")
        except WeightsError:
            export_onnx(path, folder, opset=opset, verify_checksum=verify_checksum)
        return cls.from_onnx(folder, threads=threads, providers=providers)

    # ------------------------------------------------------------------ the Scorer protocol
    def embed_array(self, x: np.ndarray) -> np.ndarray:
        """Already-normalised ``(N, 3, S, S)`` float32 → ``(N, 512)`` float32."""
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
        w = np.ascontiguousarray(np.asarray(windows, np.float32))
        if w.ndim != 3 or w.shape[1] != self.meta.window or w.shape[2] != EMBED_DIM:
            raise ValueError(f"head expects (B, {self.meta.window}, {EMBED_DIM}), got {tuple(w.shape)}")
        (logits,) = self._head.run(None, {"windows": w})
        return np.asarray(logits, np.float64).reshape(-1)

    def head(self, windows: np.ndarray) -> np.ndarray:
        if len(windows) == 0:
            return np.zeros((0,), np.float64)
        return sigmoid(self.logits(windows))
