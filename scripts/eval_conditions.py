"""Robustness to hard capture conditions, per sample: each named condition of
``rtliveness.training.degrade.CONDITIONS`` (dim room, dark room with auto gain, blur, low
resolution, heavy JPEG, tungsten white balance, roll) is applied to every crop of the selected
samples, with the same parameters for a window's five crops, and each model is scored at its own
threshold. Reported per group — NUAA people (real captures), rendered live-video identities,
rendered still identities — as BPCER and APCER per attack type, next to the clean figures.

    python scripts/eval_conditions.py DATA --split-file SPLIT.json --split test \
        --model shipped=weights/spoofmodel.pt --model new=runs/x/model.pt --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from rtliveness.model.checkpoint import load_checkpoint
from rtliveness.training.data import load_windows, scan_dataset
from rtliveness.training.degrade import CONDITIONS, apply
from rtliveness.training.evaluate import select_split
from rtliveness.training.metrics import apcer_per_type, bpcer
from rtliveness.training.predict import predict_windows

from card_tables import domain_of

def rates(scores: np.ndarray, classes: list[str], groups: list[str], thr: float) -> dict:
    """BPCER and APCER per attack type (with the sample counts) of each domain at ``thr``."""
    out: dict = {}
    for g in sorted(set(groups)):
        idx = [i for i, gg in enumerate(groups) if gg == g]
        s, c = scores[idx], np.array([classes[i] for i in idx])
        row: dict = {"bpcer": bpcer(s, c, thr), "n_bona_fide": int((c == "real").sum())}
        for t, v in sorted(apcer_per_type(s, c, thr).items()):
            row[f"apcer_{t}"] = v
            row[f"n_{t}"] = int((c == t).sum())
        out[g] = row
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--split-file", type=Path, required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--model", action="append", required=True, help="NAME=CHECKPOINT (repeatable)")
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    ds = scan_dataset(a.data)
    samples = select_split(ds, a.split_file, a.split)
    classes = [s.class_name for s in samples]
    groups = [domain_of(s.name) for s in samples]
    report: dict = {"split": a.split, "conditions": {k: v.__dict__ for k, v in CONDITIONS.items()}, "models": {}}
    for spec in a.model:
        name, path = spec.split("=", 1)
        loaded = load_checkpoint(path)
        meta = loaded.meta
        X = load_windows(samples, meta.input_size, meta.crop_scale, ds.crop_scale)
        thr = float(meta.threshold)
        res: dict = {"weights": path, "threshold": thr}
        for cond in ("clean", *CONDITIONS):
            if cond == "clean":
                Xc = X
            else:
                rng = np.random.default_rng([a.seed, list(CONDITIONS).index(cond)])
                Xc = np.stack([np.stack([apply(c, CONDITIONS[cond], rng) for c in w]) for w in X])
            scores = predict_windows(loaded.model, Xc, meta, "cpu")
            res[cond] = rates(scores, classes, groups, thr)
            print(f"{name:>12} {cond:>10} " + "  ".join(
                f"{g}: BPCER {r['bpcer'] if r['bpcer'] is None else round(100 * r['bpcer'], 1)} "
                + " ".join(f"{k[6:]} {round(100 * v, 1)}" for k, v in r.items() if k.startswith("apcer_"))
                for g, r in res[cond].items()), flush=True)
        report["models"][name] = res
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
