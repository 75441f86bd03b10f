"""Writes the held-out-attack protocols section of ``weights/MODEL_CARD.md`` from measured files.

    python scripts/model_card_protocols.py REPORTS_DIR > section.md

REPORTS_DIR/protocols.json lists the runs, in order::

    [{"key": "L_printed", "name": "...", "eval": "L_printed_test.json", "holdout": "printed"}, ...]

``eval`` is ``rtliveness eval --json`` on the run's test split. ``holdout`` is the attack class
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
    out = ["| protocol | held-out attacks in test (NUAA / rendered) | APCER held-out family: NUAA | APCER held-out family: "
           "rendered | APCER seen families (worst) | BPCER | EER, AUC (bona fide vs held-out family) |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
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
        out.append(f"| {r['name']} | {' / '.join(counts)} | {cells[0]} | {cells[1]} | {pct(e_seen['apcer_max'])} | "
                   f"{pct(e_seen['bpcer'])}{'' if not b_fam else interval(b_fam.get('bpcer'))} | {pct(e_fam['eer'])}, {auc} |")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
