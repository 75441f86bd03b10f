"""Writes the held-out-attack protocols section of ``weights/MODEL_CARD.md`` from measured files.

    python scripts/model_card_protocols.py REPORTS_DIR > section.md

REPORTS_DIR/protocols.json lists the runs, in order::

    [{"key": "L_printed", "name": "...", "eval": "L_printed_test.json", "holdout": "printed"}, ...]

``eval`` is ``rtliveness eval --json`` on the run's test split; optional ``deployed`` is
``scripts/eval_nuaa_deployed.py --json`` (the NUAA test sessions through the deployed loop) and
``rendered_deployed`` is ``scripts/eval_rendered_deployed.py --json`` (rendered clips of the
held-out identities through the deployed loop; for the screen protocol with
``--replay-min-side``): when a run has either, a second table gives the same protocols through
the loop, one verdict per session or clip. Optional ``reference`` (an ``eval`` report) and ``reference_deployed`` (``{"nuaa": deployed
report, "rendered": rendered_deployed report}``) are those of a run from the same start and
recipe with every family trained: each table then gives its APCER on exactly the protocol's
held-out samples (the same sample names, the same sessions and clips). ``holdout`` is the attack class
the run never trained or calibrated on (leave-one-family-out: ``--exclude CLASS``; the
screen-resolution protocol: replays whose screens are at least as large as every training
screen are only in its test split). Every row is scored at the run's own dev-calibrated
threshold; 95 % bootstrap intervals over identities in brackets.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from rtliveness.training.data import person_of_sample
from rtliveness.training.metrics import evaluate_scores
from rtliveness.training.metrics_bootstrap import bootstrap_intervals

from card_tables import interval, pct

PARTS = (("NUAA", lambda n: "nuaa" in n), ("rendered", lambda n: "nuaa" not in n))


def _eval(rows: list[dict], thr: float) -> tuple[dict, dict | None]:
    s = np.array([x["p_spoof"] for x in rows])
    c = np.array([x["class"] for x in rows])
    persons = [person_of_sample(x["sample"]) for x in rows]
    e = evaluate_scores(s, c, thr)
    b = bootstrap_intervals(s, c, persons, thr) if len(set(persons)) > 1 else None
    return e, b


def main() -> int:
    d = Path(sys.argv[1])
    runs = json.loads((d / "protocols.json").read_text())
    ref = any(r.get("reference") for r in runs)
    out = ["| protocol | held-out attacks in test (NUAA / rendered) | APCER held-out family: NUAA | APCER held-out family: "
           "rendered | APCER seen families (worst) | BPCER | EER, AUC (bona fide vs held-out family) |"
           + (" every family trained: APCER on the same samples (NUAA / rendered) |" if ref else ""),
           "| --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if ref else "")]
    for r in runs:
        rep = json.loads((d / r["eval"]).read_text())
        thr, fam = rep["threshold"], r["holdout"]
        rows = rep["scores"]
        cells = []
        counts = []
        for _, sel in PARTS:
            part = [x for x in rows if sel(x["sample"]) and x["class"] in ("real", fam)]
            n_att = sum(x["class"] == fam for x in part)
            counts.append(str(n_att))
            if n_att == 0:
                cells.append("—")
                continue
            e, b = _eval(part, thr)
            # only bona fide and the held-out family here: the worst APCER is that family's
            cells.append(f"{pct(e['apcer'][fam])}" + ("" if not b else interval(b.get("apcer_max"))))
        seen = [x for x in rows if x["class"] != fam]
        e_seen, _ = _eval(seen, thr)
        fam_rows = [x for x in rows if x["class"] in ("real", fam)]
        e_fam, b_fam = _eval(fam_rows, thr)
        auc = "n/a" if e_fam["auc"] is None else f"{e_fam['auc']:.3f}"
        line = (f"| {r['name']} | {' / '.join(counts)} | {cells[0]} | {cells[1]} | {pct(e_seen['apcer_max'])} | "
                f"{pct(e_seen['bpcer'])}{'' if not b_fam else interval(b_fam.get('bpcer'))} | {pct(e_fam['eer'])}, {auc} |")
        if ref:
            line += f" {reference_apcer(d, r, rows)} |"
        out.append(line)
    print("\n".join(out))
    loop = [r for r in runs if r.get("deployed") or r.get("rendered_deployed")]
    if loop:
        print()
        print("\n".join(loop_table(d, loop)))
    return 0


def reference_apcer(d: Path, r: dict, rows: list[dict]) -> str:
    """APCER of the all-families reference run on the protocol's own held-out samples, NUAA / rendered."""
    if not r.get("reference"):
        return "—"
    rep = json.loads((d / r["reference"]).read_text())
    score = {x["sample"]: x["p_spoof"] for x in rep["scores"]}
    fam = r["holdout"]
    cells = []
    for _, sel in PARTS:
        names = [x["sample"] for x in rows if x["class"] == fam and sel(x["sample"])]
        cells.append("—" if not names else pct(sum(score[n] < rep["threshold"] for n in names) / len(names)))
    return " / ".join(cells)


def loop_table(d: Path, runs: list[dict]) -> list[str]:
    """The protocols through the deployed loop: one verdict per NUAA session or rendered clip, at
    each run's own threshold."""
    ref = any(r.get("reference_deployed") for r in runs)
    out = ["| protocol | NUAA sessions: APCER held-out family (n) | NUAA BPCER | rendered clips: APCER held-out "
           "family (n) | rendered: APCER seen families (worst) | rendered BPCER: live video / stills | rendered ACER "
           "(95 % CI) |" + (" every family trained: APCER on the same sessions / clips |" if ref else ""),
           "| --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if ref else "")]
    for r in runs:
        fam = r["holdout"]
        nuaa_apcer = nuaa_bpcer = "—"
        if r.get("deployed"):
            dep = json.loads((d / r["deployed"]).read_text())["ours"]
            nuaa_bpcer = pct(dep["bpcer"])
            if fam == "printed":
                nuaa_apcer = f"{pct(dep['apcer_printed'])} ({dep['n_attack']})"
        cells = ["—"] * 4
        if r.get("rendered_deployed"):
            rep = json.loads((d / r["rendered_deployed"]).read_text())
            g = rep["groups"]["all"]
            n_fam = sum(1 for x in rep["rows"] if x["class"] == fam and x["label"] is not None)
            seen = [v for k, v in g["apcer"].items() if k != fam]
            bp = [pct(rep["groups"][k]["bpcer"]) if k in rep["groups"] else "n/a" for k in ("live_video", "stills")]
            cells = [f"{pct(g['apcer'].get(fam))} ({n_fam})", pct(max(seen) if seen else None), " / ".join(bp),
                     f"{pct(g['acer'])}{interval(g.get('acer_ci95'))}"]
        line = f"| {r['name']} | {nuaa_apcer} | {nuaa_bpcer} | {' | '.join(cells)} |"
        if ref:
            line += f" {reference_loop_apcer(d, r)} |"
        out.append(line)
    return out


def reference_loop_apcer(d: Path, r: dict) -> str:
    """Through the loop, APCER of the all-families reference on the protocol's held-out family:
    the NUAA sessions (printed) / the very clips the protocol's run scored."""
    ref = r.get("reference_deployed") or {}
    fam = r["holdout"]
    cells = []
    if ref.get("nuaa") and fam == "printed":
        cells.append(pct(json.loads((d / ref["nuaa"]).read_text())["ours"]["apcer_printed"]))
    else:
        cells.append("—")
    if ref.get("rendered") and r.get("rendered_deployed"):
        own = json.loads((d / r["rendered_deployed"]).read_text())["rows"]
        clips = {x["clip"] for x in own if x["class"] == fam and x["label"] is not None}
        other = [x for x in json.loads((d / ref["rendered"]).read_text())["rows"]
                 if x["clip"] in clips and x["label"] is not None]
        cells.append(pct(sum(x["label"] != "spoof" for x in other) / len(other)) if other else "—")
    else:
        cells.append("—")
    return " / ".join(cells)


if __name__ == "__main__":
    sys.exit(main())
