"""Writes the crop-wobble table of the model card (E4's, now ``weights/model_card/e4.md``) from measured report files only.

    python scripts/model_card_wobble.py weights/reports/wobble > table.md

REPORTS_DIR/models.json lists the models in order, each with its files (paths relative to the
repository root)::

    [{"model": "NAME", "recipe": "...", "history": "history.json",           # rtliveness train
      "stability_test": "stab.json", "stability_dev": "stabdev.json",       # benchmarks/crop_shift_stability.py
      "int8": "int8.json",                                                   # benchmarks/int8_heldout.py --variants minmax
      "deployed": "nuaa_deployed.json"}, ...]                                # scripts/eval_nuaa_deployed.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from card_tables import pct

ROOT = Path(__file__).resolve().parents[1]


def stab(path: str, weights_key: str | None, amount: str) -> str:
    models = json.loads((ROOT / path).read_text())["models"]
    row = models[weights_key] if weights_key in models else next(iter(models.values()))
    r = row[amount]
    return f"{r['max_abs_dp']:.3f} / {r['p99_abs_dp']:.3f} / {r['mean_abs_dp']:.3f} ({pct(r['label_change_rate'])})"


def main() -> int:
    d = Path(sys.argv[1])
    spec = json.loads((d / "models.json").read_text())
    out = ["| model | dev ACER / EER / AUC (last epoch) | p_spoof moved by a 2 % wobble, test: max / p99 / mean (labels changed) "
           "| same, dev | int8 encoder on test: max / p99 \\|Δp\\| (labels changed) | NUAA deployed APCER / BPCER / ACER |",
           "| --- | --- | --- | --- | --- | --- |"]
    for m in spec:
        dev = json.loads((ROOT / m["history"]).read_text())[-1]["dev"]
        i8 = json.loads((ROOT / m["int8"]).read_text())["variants"]["minmax"]
        dep = json.loads((ROOT / m["deployed"]).read_text())["ours"]
        key = m.get("weights_key")
        out.append(f"| {m['model']} ({m['recipe']}) | {pct(dev['acer'])} / {pct(dev['eer'])} / {dev['auc']:.3f} "
                   f"| {stab(m['stability_test'], key, '0.02')} | {stab(m['stability_dev'], key, '0.02')} "
                   f"| {i8['max_abs_dp']:.3f} / {i8['p99_abs_dp']:.3f} ({i8['label_flips']}) "
                   f"| {pct(dep['apcer_printed'])} / {pct(dep['bpcer'])} / {pct(dep['acer'])} |")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
