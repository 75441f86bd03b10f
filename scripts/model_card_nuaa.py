"""Writes the NUAA section of the model card (that release's, now ``weights/model_card/nuaa_teacher.md``) from measured report files only.

    python scripts/model_card_nuaa.py REPORTS_DIR > section.md

REPORTS_DIR holds ``eval_base.json`` / ``eval_ft.json`` (``rtliveness eval --json`` on the NUAA
test split, base = the synthetic-only model, ft = the shipped one), ``deployed_base.json`` /
``deployed_ft.json`` (``scripts/eval_nuaa_deployed.py``) and ``history.json`` (the training run).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from card_tables import history_table, interval, pct


def main() -> int:
    d = Path(sys.argv[1])
    ev = {k: json.loads((d / f"eval_{k}.json").read_text()) for k in ("base", "ft")}
    dep = {k: json.loads((d / f"deployed_{k}.json").read_text()) for k in ("base", "ft")}
    hist = json.loads((d / "history.json").read_text())
    out = ["| model | samples (bona fide / printed) | APCER printed | BPCER | ACER | EER | AUC | BPCER@APCER 5 % |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    names = {"base": "synthetic only (previous release)", "ft": "NUAA + teacher fine-tune (that release)"}
    for k in ("base", "ft"):
        r = ev[k]
        out.append(f"| {names[k]} | {r['n']} ({r['n_bona_fide']} / {r['n_attack']}) | {pct(r['apcer_max'])} | "
                   f"{pct(r['bpcer'])} | {pct(r['acer'])} | {pct(r['eer'])} | {r['auc']:.3f} | {pct(r['bpcer_at_apcer_5pct'])} |")
    out += ["", "Through the deployed loop (each held-out session written as a video and run through "
            "`LivenessPipeline.from_config` + `process_source`, verdict = the main track's summary; one session = one sample; "
            "95 % bootstrap interval over identities):", "",
            "| model | sessions | APCER printed | BPCER | ACER (95 % CI) | no verdict |", "| --- | --- | --- | --- | --- | --- |"]
    for k in ("base", "ft"):
        r = dep[k]["ours"]
        ci_s = interval(r.get("acer_ci95"))
        out.append(f"| {names[k]} | {dep[k]['sessions']} | {pct(r['apcer_printed'])} | {pct(r['bpcer'])} | "
                   f"{pct(r['acer'])}{ci_s} | {dep[k]['undecided']} |")
    if "minifasnet" in dep["ft"]:
        r = dep["ft"]["minifasnet"]
        ci_s = interval(r.get("acer_ci95"))
        out.append(f"| MiniFASNet teacher (peer; its own detector, mean frame p_spoof ≥ 0.5) | {dep['ft']['sessions']} | "
                   f"{pct(r['apcer_printed'])} | {pct(r['bpcer'])} | {pct(r['acer'])}{ci_s} | — |")
    out += ["", "Training run (dev = NUAA people 0005 and 0009):", ""] + history_table(hist)
    exp_root = d / "experiments"
    exps = sorted(p for p in exp_root.iterdir() if (p / "eval.json").is_file()) if exp_root.is_dir() else []
    if exps:
        out += ["", "Experiments measured on the same split and not shipped (`weights/reports/experiments/`):", "",
                "| experiment | per-sample ACER | AUC | EER | deployed APCER printed | deployed BPCER | deployed ACER (95 % CI) |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for p in exps:
            e = json.loads((p / "eval.json").read_text())
            r = json.loads((p / "deployed.json").read_text())["ours"]
            about = (p / "about.txt").read_text().strip() if (p / "about.txt").is_file() else p.name
            ci_s = interval(r.get("acer_ci95"))
            out.append(f"| {about} | {pct(e['acer'])} | {e['auc']:.3f} | {pct(e['eer'])} | {pct(r['apcer_printed'])} | "
                       f"{pct(r['bpcer'])} | {pct(r['acer'])}{ci_s} |")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
