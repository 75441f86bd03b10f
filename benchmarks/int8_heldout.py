"""int8 encoder variants against the float encoder on held-out 5-crop windows.

    python benchmarks/int8_heldout.py DATA SPLIT.json [--variants minmax,percentile,...] [--json OUT]

Calibration (static variants): 150 windows (750 crops) drawn from the split's ``train`` part;
``dynamic`` quantises activations with ranges taken from each batch at run time; ``torch-bf16`` is
not int8 but the PyTorch encoder in bfloat16 (``--backend torch-bf16``, CPUs with AMX or
AVX512-BF16; its encoder uses every core, like ONNX Runtime's default); ``openvino-bf16`` the
same arithmetic through OpenVINO (``--backend openvino-bf16``). Check: every window
of its ``test`` part, scored with the float head on float and on int8 embeddings. Prints and
writes, per variant, the largest / 99th percentile / mean |p_spoof difference|, label flips at
the checkpoint's threshold and the median time to embed 64 crops (float in the same run).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def variants(convs: list[str]) -> dict[str, dict]:
    from onnxruntime.quantization import CalibrationMethod

    return {
        "minmax": {},
        "percentile": {"calibrate_method": CalibrationMethod.Percentile},
        "entropy": {"calibrate_method": CalibrationMethod.Entropy},
        "float-first-conv": {"nodes_to_exclude": convs[:1]},
        "float-last-stage": {"nodes_to_exclude": [c for c in convs if "layer4" in c]},
        "conv-only": {"op_types_to_quantize": ["Conv"]},
        "dynamic": {"dynamic": True},  # ONNX Runtime dynamic quantisation: activation ranges per batch
        "torch-bf16": {"bf16": True},  # not int8: the PyTorch encoder in bfloat16 (--backend torch-bf16)
        "openvino-bf16": {"openvino": True},  # not int8: OpenVINO's encoder in bfloat16 (--backend openvino-bf16)
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("split", type=Path)
    ap.add_argument("--weights", type=Path, default=ROOT / "weights" / "spoofmodel.pt")
    ap.add_argument("--variants", default="minmax,percentile,entropy,float-first-conv,float-last-stage,conv-only")
    ap.add_argument("--data-scale", type=float, default=2.7, help="crop scale the dataset was stored at")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()

    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from rtliveness.model.backends import preprocess_crops
    from rtliveness.model.checkpoint import load_checkpoint
    from rtliveness.model.export import ENCODER_FILE, cached_export
    from rtliveness.model.onnx import OnnxScorer
    from rtliveness.training.data import load_window, scan_dataset

    meta = load_checkpoint(a.weights).meta
    folder = cached_export(a.weights)
    by = {s.name: s for s in scan_dataset(a.data).samples}
    split = json.loads(a.split.read_text())

    def windows(names):
        return np.stack([load_window(by[n], meta.input_size, meta.crop_scale, a.data_scale) for n in names])

    rng = np.random.default_rng(0)
    test = windows(split["test"])
    cal = windows([split["train"][i] for i in rng.choice(len(split["train"]), 150, replace=False)])
    x = preprocess_crops(list(cal.reshape(-1, *cal.shape[2:])), meta)
    flat = list(test.reshape(-1, *test.shape[2:]))
    fp32 = OnnxScorer.from_onnx(folder)

    def p_of(sc):
        return fp32.head(sc.embed(flat).reshape(len(test), 5, -1))

    def embed_ms(sc):
        sc.embed(flat[:64])
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            sc.embed(flat[:64])
            ts.append(time.perf_counter() - t0)
        return round(1000 * float(np.median(ts)), 1)

    p32 = p_of(fp32)
    out = {"weights": str(a.weights), "test_windows": int(len(test)), "calibration_crops": int(len(x)),
           "threshold": meta.threshold, "float_embed64_ms": embed_ms(fp32), "variants": {}}

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter({"crops": x[i:i + 15]} for i in range(0, len(x), 15))  # equal batches

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(folder / ENCODER_FILE), str(pre))
        convs = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type == "Conv"]
        table = variants(convs)
        for name in a.variants.split(","):
            q = Path(tmp) / f"{name}.onnx"
            if table[name].get("openvino"):
                from rtliveness.model.openvino import OpenVinoScorer

                sc = OpenVinoScorer.from_checkpoint(a.weights)
            elif table[name].get("bf16"):
                from rtliveness.model.bf16 import Bf16Scorer

                sc = Bf16Scorer(load_checkpoint(a.weights))
            elif table[name].get("dynamic"):
                quantize_dynamic(str(pre), str(q), per_channel=True, weight_type=QuantType.QUInt8,
                                 op_types_to_quantize=["Conv", "MatMul", "Gemm"])
                sc = OnnxScorer.from_onnx(folder, encoder_file=q)
            else:
                quantize_static(str(pre), str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                                weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8, **table[name])
                sc = OnnxScorer.from_onnx(folder, encoder_file=q)
            p8 = p_of(sc)
            d = np.abs(p8 - p32)
            row = {"max_abs_dp": round(float(d.max()), 4), "p99_abs_dp": round(float(np.quantile(d, 0.99)), 4),
                   "mean_abs_dp": round(float(d.mean()), 4),
                   "label_flips": int(((p8 >= meta.threshold) != (p32 >= meta.threshold)).sum()),
                   "embed64_ms": embed_ms(sc)}
            out["variants"][name] = row
            print(name, row, flush=True)
    print("float embed64 ms", out["float_embed64_ms"])
    if a.json:
        a.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
