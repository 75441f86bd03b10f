"""Writes the capture-conditions tables of the model card (E4's, now ``weights/model_card/e4.md``) from measured report files only.

    python scripts/model_card_conditions.py REPORTS_DIR > tables.md

REPORTS_DIR/conditions.json lists what to show::

    {"per_sample": "conditions_test.json",                      # scripts/eval_conditions.py
     "videos": {"NAME": "video_NAME.json", ...},                # scripts/eval_video_conditions.py, per model
     "nuaa_deployed": [{"model": "NAME", "condition": "dark", "report": "nuaa_dark_NAME.json"}, ...]}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from card_tables import DOMAINS, pct


def cell(row: dict) -> str:
    apcers = [v for k, v in row.items() if k.startswith("apcer_")]
    return f"{pct(row['bpcer'])} / {pct(max(apcers)) if apcers else 'n/a'}"


def main() -> int:
    d = Path(sys.argv[1])
    spec = json.loads((d / "conditions.json").read_text())
    out: list[str] = []
    rep = json.loads((d / spec["per_sample"]).read_text())
    models = list(rep["models"])
    conds = [c for c in rep["models"][models[0]] if c not in ("weights", "threshold")]
    out += ["Per sample, each crop of the test windows degraded (`python scripts/eval_conditions.py`; the same "
            "parameters for a window's five crops; each model at its own threshold). Cells: BPCER / worst APCER.", ""]
    for key, title, _ in DOMAINS:
        out += [f"**{title}**", "", "| condition | " + " | ".join(models) + " |", "| --- | " + " | ".join("---" for _ in models) + " |"]
        for c in conds:
            out.append(f"| {c} | " + " | ".join(cell(rep["models"][m][c][key]) if key in rep["models"][m][c] else "n/a"
                                                for m in models) + " |")
        out.append("")
    vids = spec.get("videos") or {}
    if vids:
        reports = {m: json.loads((d / f).read_text()) for m, f in vids.items()}
        names = list(reports)
        out += ["Whole videos through the deployed loop, every frame degraded before detection "
                "(`python scripts/eval_video_conditions.py`; verdict of the main track, its mean p_spoof):", "",
                "| video (truth) | condition | " + " | ".join(names) + " |", "| --- | --- | " + " | ".join("---" for _ in names) + " |"]
        first = reports[names[0]]["rows"]
        for i, r in enumerate(first):
            cells = []
            for m in names:
                x = reports[m]["rows"][i]
                assert (x["video"], x["condition"]) == (r["video"], r["condition"])
                mark = "" if x["verdict"] is None or (x["verdict"] == "live") == (x["truth"] == "live") else " ✗"
                cells.append(f"{x['verdict']} ({x['mean_p_spoof']}){mark}")
            out.append(f"| `{Path(r['video']).name}` ({r['truth']}) | {r['condition']} | " + " | ".join(cells) + " |")
        out.append("")
    dep = spec.get("nuaa_deployed") or []
    if dep:
        out += ["NUAA test sessions through the deployed loop with every frame degraded (`python "
                "scripts/eval_nuaa_deployed.py --condition …`):", "",
                "| model | condition | sessions | APCER printed | BPCER | ACER | no verdict |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for e in dep:
            r = json.loads((d / e["report"]).read_text())
            o = r["ours"]
            out.append(f"| {e['model']} | {r.get('condition') or 'clean'} | {r['sessions']} | {pct(o['apcer_printed'])} | "
                       f"{pct(o['bpcer'])} | {pct(o['acer'])} | {r['undecided']} |")
        out.append("")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
