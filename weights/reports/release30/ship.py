"""Round 30's candidate as shipped: MGV (½ MG + ½ MGB, threshold calibrated on dev by
`rtliveness calibrate`) with its security levels calibrated on the same dev split (as `train`
stores them), written int8 with a scale per kernel (as MG was) and a .sha256 beside it.

Run from the repository root:
    python weights/reports/release30/ship.py runs/s21/MGV.pt runs/joint_loop3 \
        weights/reports/synthloop/split.json weights/spoofmodel.pt
"""
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from rtliveness.model.checkpoint import load_checkpoint, save_checkpoint
from rtliveness.training.evaluate import score_dataset
from rtliveness.training.train import security_levels


def main(src: str, data: str, split: str, out: str) -> None:
    scored = score_dataset(data, src, "cpu", Path(split), "dev")
    levels = security_levels(scored.scores, scored.classes)
    loaded = load_checkpoint(Path(src), verify_checksum=False)
    thr = loaded.meta.threshold
    conv = dict(levels)["convenience"]
    if abs(conv - thr) > 1e-6:
        raise SystemExit(f"convenience {conv} differs from the calibrated threshold {thr}")
    save_checkpoint(Path(out), loaded.model, replace(loaded.meta, security_levels=levels), storage="int8-kernel",
                    write_sha256=True)
    shipped = load_checkpoint(Path(out))
    int8 = score_dataset(data, out, "cpu", Path(split), "dev").scores
    print(f"{out}: threshold {thr:.4f}, levels {dict(levels)}, sha256 {shipped.sha256}; dev p_spoof int8 vs float: "
          f"max |diff| {np.abs(int8 - scored.scores).max():.4f}, labels changed "
          f"{int(((int8 >= thr) != (scored.scores >= thr)).sum())} of {len(int8)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
