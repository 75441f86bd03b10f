"""A cheaper encoder pass on the CPU: the encoder quantised to int8 (ONNX Runtime static
quantisation, per-channel weights, calibrated on real face crops), stored next to the weights.

``scripts/build_int8_encoder.py --weights W`` writes ``W.stem + .encoder-int8.onnx`` and a JSON
sidecar with the sha256 of the checkpoint it was made from; the ONNX backend ``onnx-int8`` (CPU
only, opt-in) uses it only when that sha256 matches the checkpoint being loaded, so other weights
never get a stale encoder. The bundled weights ship none: their conv weights are stored with a
scale per kernel (``storage="int8-kernel"``), not on the per-channel grid that ONNX Runtime's
int8 uses, and quantising them moves p_spoof far more than the 0.02 a verdict can afford
(README, "Performance"); ``openvino-bf16`` is the cheaper pass that keeps the verdicts.
Weights stored with ``storage="int8"`` (per channel) quantise far better.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import WeightsError

__all__ = ["INT8_SUFFIX", "int8_encoder_for", "require_int8_encoder", "quantize_encoder"]

INT8_SUFFIX = ".encoder-int8.onnx"


def _sidecar(encoder: Path) -> Path:
    return encoder.with_suffix(".json")


def int8_encoder_for(weights: Path, digest: str) -> Path | None:
    """The int8 encoder stored next to ``weights`` when it was made from exactly this
    checkpoint (``digest`` = its sha256), else None."""
    weights = Path(weights)
    cand = weights.with_name(weights.stem + INT8_SUFFIX)
    meta = _sidecar(cand)
    if not (cand.is_file() and meta.is_file()):
        return None
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    return cand if isinstance(info, dict) and info.get("checkpoint_sha256") == digest else None


def require_int8_encoder(weights: Path, digest: str) -> Path:
    """:func:`int8_encoder_for`, or the one :class:`WeightsError` every entry point gives (``run``,
    ``serve``, and the fleet driver before any Ray actor starts)."""
    found = int8_encoder_for(weights, digest)
    if found is None:
        raise WeightsError(f"no int8 encoder made from {weights} next to it; build one with "
                           f"'python scripts/build_int8_encoder.py --weights {weights}' or use --backend onnx")
    return found


def quantize_encoder(fp32_encoder: Path, out: Path, batches: Iterable[np.ndarray], info: dict) -> Path:
    """Quantise ``fp32_encoder`` (input ``crops``: normalised N×3×S×S float32) to ``out``,
    calibrating activations on ``batches``; writes ``info`` (must hold ``checkpoint_sha256``)
    to the JSON sidecar."""
    from .ort import import_ort

    import_ort()  # its telemetry off before onnxruntime.quantization imports it
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter({"crops": np.ascontiguousarray(b, np.float32)} for b in batches)

        def get_next(self):
            return next(self._it, None)

    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_encoder), str(pre))
        quantize_static(str(pre), str(out), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    _sidecar(out).write_text(json.dumps(info, indent=1) + "\n")
    return out
