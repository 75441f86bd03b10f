"""Build ``weights/spoofmodel.encoder-int8.onnx`` from the bundled weights and check it.

Calibration: face crops cut by the serving pipeline (MTCNN, tracker, crop rule) from the real
videos shipped with the repository (``tests/data/talking_head.mov``, ``examples/live_webcam.mov``)
and the bundled example attacks. The check: every 5-frame window of every bundled clip scored
with the float and the int8 encoder — the largest p_spoof difference and the label flips are
printed and stored in the sidecar.

    python scripts/build_int8_encoder.py [--weights weights/spoofmodel.pt]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION = ["tests/data/talking_head.mov", "examples/live_webcam.mov", "examples/attack_printed.mp4",
               "examples/attack_replay.mp4"]


def clip_crops(pipe, path: Path) -> list[np.ndarray]:
    from rtliveness.runtime.crop import crop_face
    from rtliveness.runtime.sources import FileSource

    crops = []
    pipe.reset()
    with FileSource(path) as src:
        for frame in src:
            result = pipe.step(frame)
            for v in result.faces[:1]:
                crops.append(crop_face(frame.image_bgr, v.box, pipe.meta.crop_scale, pipe.meta.input_size))
    return crops


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, default=ROOT / "weights" / "spoofmodel.pt")
    ap.add_argument("--calibration-crops", type=int, default=600)
    a = ap.parse_args()

    import onnxruntime

    from rtliveness import LivenessPipeline, PipelineConfig
    from rtliveness.model.backends import preprocess_crops
    from rtliveness.model.checkpoint import sha256_file
    from rtliveness.model.export import ENCODER_FILE, cached_export, read_export
    from rtliveness.model.onnx import OnnxScorer
    from rtliveness.model.quantize import INT8_SUFFIX, quantize_encoder

    folder = cached_export(a.weights)
    _, info = read_export(folder)
    assert info["checkpoint_sha256"] == sha256_file(a.weights)
    per_clip = {}
    with LivenessPipeline.from_config(PipelineConfig(weights=a.weights, backend="onnx")) as pipe:
        for rel in CALIBRATION:
            per_clip[rel] = clip_crops(pipe, ROOT / rel)
        meta = pipe.meta
    pool = [c for crops in per_clip.values() for c in crops]
    rng = np.random.default_rng(0)
    pick = rng.choice(len(pool), min(a.calibration_crops, len(pool)), replace=False)
    x = preprocess_crops([pool[i] for i in sorted(pick)], meta)
    out = a.weights.with_name(a.weights.stem + INT8_SUFFIX)
    sidecar = {"checkpoint_sha256": info["checkpoint_sha256"], "onnxruntime": onnxruntime.__version__,
               "calibration": CALIBRATION, "calibration_crops": int(len(x)),
               "quantisation": "static QDQ, per-channel int8 weights, uint8 activations"}
    quantize_encoder(folder / ENCODER_FILE, out, (x[i:i + 8] for i in range(0, len(x), 8)), sidecar)

    fp32 = OnnxScorer.from_onnx(folder)
    int8 = OnnxScorer.from_onnx(folder, encoder_file=out)
    worst, flips, windows = 0.0, 0, 0
    for rel, crops in per_clip.items():
        e32, e8 = fp32.embed(crops), int8.embed(crops)
        w32 = np.stack([e32[i:i + 5] for i in range(len(crops) - 4)])
        w8 = np.stack([e8[i:i + 5] for i in range(len(crops) - 4)])
        p32, p8 = fp32.head(w32), fp32.head(w8)
        worst = max(worst, float(np.abs(p32 - p8).max()))
        flips += int(((p32 >= meta.threshold) != (p8 >= meta.threshold)).sum())
        windows += len(w32)
    sidecar.update({"check_windows": windows, "check_max_abs_dp": round(worst, 6), "check_label_flips": flips})
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=1) + "\n")
    print(json.dumps(sidecar, indent=1))
    return 0 if worst <= 0.02 and flips == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
