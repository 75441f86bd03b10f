"""How far p_spoof moves when each crop of a window is framed a little differently.

    python benchmarks/crop_shift_stability.py DATA SPLIT.json --weights A.pt[,B.pt ...] [--amounts 0.02,0.04] [--json OUT]

In the deployed loop the tracker's boxes wobble by a pixel or two between frames (and between a
detection cadence and another), so the same face gives slightly different crops. For every window
of the split's ``test`` part (or ``--part dev``) this moves (and zooms in) each of its 5 crops on its own by up to
``amount`` of the crop side (``rtliveness.training.augment.crop_wobble``, seeded: every model sees
the same wobbles), scores it with PyTorch and compares with the unmoved window: the largest /
99th percentile / mean |p_spoof difference| and the share of label changes at each model's own
threshold.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("split", type=Path)
    ap.add_argument("--weights", required=True, help="comma-separated checkpoints")
    ap.add_argument("--amounts", default="0.02,0.04")
    ap.add_argument("--draws", type=int, default=3, help="wobbles per window and amount")
    ap.add_argument("--part", default="test", choices=("train", "dev", "test"), help="which part of the split")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()

    import torch

    from rtliveness.model.checkpoint import load_checkpoint
    from rtliveness.training.data import load_window, scan_dataset
    from rtliveness.training.augment import crop_wobble, jitter_windows
    from rtliveness.training.predict import predict_windows

    ds = scan_dataset(a.data)
    by = {s.name: s for s in ds.samples}
    names = json.loads(a.split.read_text())[a.part]
    out = {"data": str(a.data), "part": a.part, "windows": len(names), "draws": a.draws, "models": {}}
    for w in a.weights.split(","):
        loaded = load_checkpoint(Path(w))
        meta, model = loaded.meta, loaded.model
        torch.manual_seed(0)
        win = np.stack([load_window(by[n], meta.input_size, meta.crop_scale, ds.crop_scale) for n in names])
        ident = np.tile(np.array([[1.0, 0.0, 0.0, 0.0, 1.0]]), (len(win), 1))
        p0 = predict_windows(model, win, meta, "cpu")
        row = {"threshold": meta.threshold}
        for amount in map(float, a.amounts.split(",")):
            rng = np.random.default_rng(0)
            d, flips = [], 0
            for _ in range(a.draws):
                moved = jitter_windows(win, ident, crop_wobble(rng, len(win), win.shape[1], amount))
                p = predict_windows(model, moved, meta, "cpu")
                d.append(np.abs(p - p0))
                flips += int(((p >= meta.threshold) != (p0 >= meta.threshold)).sum())
            d = np.concatenate(d)
            row[str(amount)] = {"max_abs_dp": round(float(d.max()), 4), "p99_abs_dp": round(float(np.quantile(d, 0.99)), 4),
                                "mean_abs_dp": round(float(d.mean()), 4), "label_change_rate": round(flips / len(d), 4)}
        out["models"][w] = row
        print(w, row, flush=True)
    if a.json:
        a.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
