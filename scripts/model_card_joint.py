"""Writes the joint fine-tune section of ``weights/MODEL_CARD.md`` from measured report files only.

    python scripts/model_card_joint.py REPORTS_DIR > section.md

REPORTS_DIR/models.json lists the models compared, in order::

    [{"key": "e2", "name": "...", "eval": "e2_test.json", "deployed": "e2_deployed.json",
      "history": "e2_history.json", "shipped": true}, ...]

``eval`` is ``rtliveness eval --json`` on the joint test split (NUAA test people plus the held-out
rendered identities); it is broken down here by domain: NUAA (real webcam captures), the held-out
live-video identity (``talkinghead``: its live samples are real video) and the held-out still
identities (live samples are animated stills), each with 95 % bootstrap intervals over
identities. ``deployed`` is ``scripts/eval_nuaa_deployed.py`` (NUAA sessions through the loop).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from rtliveness.training.data import person_of_sample
from rtliveness.training.metrics import evaluate_scores
from rtliveness.training.metrics_bootstrap import bootstrap_intervals

from card_tables import DOMAINS, history_table, interval, pct


def ci(c, k) -> str:
    return "" if not c else interval(c.get(k))


def domain_rows(report: dict) -> list[tuple[str, dict, dict | None]]:
    thr = report["threshold"]
    out = []
    for _, name, sel in DOMAINS:
        rows = [x for x in report["scores"] if sel(x["sample"])]
        s = np.array([x["p_spoof"] for x in rows])
        c = np.array([x["class"] for x in rows])
        persons = [person_of_sample(x["sample"]) for x in rows]
        e = evaluate_scores(s, c, thr)
        b = bootstrap_intervals(s, c, persons, thr) if len(set(persons)) > 1 else None
        out.append((name, e, b))
    return out


def main() -> int:
    d = Path(sys.argv[1])
    models = json.loads((d / "models.json").read_text())
    out = ["Per sample (`rtliveness eval --split-file … --split test`, 5-crop windows, PyTorch), at each "
           "model's own calibrated threshold; 95 % bootstrap intervals over identities in brackets:", ""]
    for dom_i, (_, dom, _) in enumerate(DOMAINS):
        out += [f"**{dom}**", "",
                "| model | samples (bona fide / attack) | APCER per type | BPCER | ACER | EER | AUC | BPCER@APCER 1 / 5 / 10 % |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for m in models:
            rep = json.loads((d / m["eval"]).read_text())
            _, e, b = domain_rows(rep)[dom_i]
            ap = ", ".join(f"{k} {pct(v)}" for k, v in e["apcer"].items())
            auc = "n/a" if e["auc"] is None else f"{e['auc']:.3f}"
            out.append(f"| {m['name']} | {e['n']} ({e['n_bona_fide']} / {e['n_attack']}) | {ap} | {pct(e['bpcer'])}{ci(b, 'bpcer')} | "
                       f"{pct(e['acer'])}{ci(b, 'acer')} | {pct(e['eer'])} | {auc} | {pct(e['bpcer_at_apcer_1pct'])} / "
                       f"{pct(e['bpcer_at_apcer_5pct'])} / {pct(e.get('bpcer_at_apcer_10pct'))} |")
        out.append("")
    out += ["NUAA through the deployed loop (each held-out session written as a video and run through "
            "`LivenessPipeline.from_config` + `process_source`; verdict = the main track's summary; one session = one "
            "sample; 95 % bootstrap interval over identities):", "",
            "| model | threshold | sessions | APCER printed | BPCER | ACER (95 % CI) | no verdict |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for m in models:
        if not m.get("deployed"):
            continue
        dep = json.loads((d / m["deployed"]).read_text())
        r = dep["ours"]
        out.append(f"| {m['name']} | {dep['threshold']:.3f} | {dep['sessions']} | {pct(r['apcer_printed'])} | {pct(r['bpcer'])} | "
                   f"{pct(r['acer'])}{interval(r.get('acer_ci95'))} | {dep['undecided']} |")
    for m in models:
        if m.get("shipped") and m.get("deployed"):
            dep = json.loads((d / m["deployed"]).read_text())
            if "minifasnet" in dep:
                r = dep["minifasnet"]
                out.append(f"| MiniFASNet teacher (peer; its own detector, mean frame p_spoof ≥ 0.5) | 0.5 | {dep['sessions']} | "
                           f"{pct(r['apcer_printed'])} | {pct(r['bpcer'])} | {pct(r['acer'])} | — |")
    rendered = [m for m in models if m.get("rendered_deployed")]
    if rendered:
        lengths = sorted({row["frames"] for m in rendered
                          for row in json.loads((d / m["rendered_deployed"]).read_text())["rows"] if row.get("frames")})
        frames = "/".join(str(n) for n in lengths) or "30"
        out += ["", "Rendered held-out identities through the deployed loop (`scripts/eval_rendered_deployed.py`: 3 new "
                f"scenes per identity and class, {frames} frames of 640×480 each, written as MJPG video and run as `rtliveness run` "
                "does; verdict = the main track's summary; one clip = one sample; 95 % bootstrap interval over identities):", "",
                "| model | threshold | clips | live video: BPCER / APCER printed, replay, 2D mask | stills: BPCER | stills: APCER printed / replay / 2D mask | all: ACER (95 % CI) | no verdict |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for m in rendered:
            r = json.loads((d / m["rendered_deployed"]).read_text())
            g = r["groups"]
            lv, st, al = g["live_video"], g["stills"], g["all"]
            lv_ap = ", ".join(pct(lv["apcer"].get(k)) for k in ("printed", "replay", "2dmask"))
            st_ap = " / ".join(pct(st["apcer"].get(k)) for k in ("printed", "replay", "2dmask"))
            out.append(f"| {m['name']} | {r['threshold']:.3f} | {r['clips']} | {pct(lv['bpcer'])} / {lv_ap} | {pct(st['bpcer'])} | "
                       f"{st_ap} | {pct(al['acer'])}{interval(al.get('acer_ci95'))} | {al['undecided']} |")
        for m in rendered:
            r = json.loads((d / m["rendered_deployed"]).read_text())
            if m.get("shipped") and "minifasnet" in r:
                g = r["minifasnet"]["groups"]
                lv, st, al = g["live_video"], g["stills"], g["all"]
                lv_ap = ", ".join(pct(lv["apcer"].get(k)) for k in ("printed", "replay", "2dmask"))
                st_ap = " / ".join(pct(st["apcer"].get(k)) for k in ("printed", "replay", "2dmask"))
                out.append(f"| MiniFASNet teacher (peer; its own detector, mean frame p_spoof ≥ 0.5) | 0.5 | {r['clips']} | "
                           f"{pct(lv['bpcer'])} / {lv_ap} | {pct(st['bpcer'])} | {st_ap} | "
                           f"{pct(al['acer'])}{interval(al.get('acer_ci95'))} | {al['undecided']} |")
    for m in models:
        if not m.get("shipped"):
            continue
        rep = json.loads((d / m["eval"]).read_text())
        levels = rep.get("security_levels") or {}
        if levels:
            out += ["", "Security levels stored in the shipped checkpoint (calibrated on dev) and what each costs on the "
                    "test split, per sample:", "",
                    "| level | threshold | " + " | ".join(f"{dom}: BPCER / worst APCER" for _, dom, _ in DOMAINS) + " |",
                    "| --- | --- | " + " | ".join("---" for _ in DOMAINS) + " |"]
            for name, thr in levels.items():
                cells = []
                for _, _, sel in DOMAINS:
                    rows = [x for x in rep["scores"] if sel(x["sample"])]
                    e = evaluate_scores(np.array([x["p_spoof"] for x in rows]), np.array([x["class"] for x in rows]), thr)
                    cells.append(f"{pct(e['bpcer'])} / {pct(e['apcer_max'])}")
                out.append(f"| `{name}` | {thr:.4f} | " + " | ".join(cells) + " |")
    for m in models:
        if m.get("shipped") and m.get("history"):
            hist = json.loads((d / m["history"]).read_text())
            out += ["", f"Training run of the shipped model ({m['name']}; dev = NUAA people 0005 and 0009 plus the "
                    "rendered dev identities):", ""] + history_table(hist)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
