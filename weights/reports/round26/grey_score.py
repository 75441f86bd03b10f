"""Round 26's grey condition (RULE.md, condition 2): for each key, the grey score = BPCER of the
real live videos + BPCER of their photo faces (grey copies, ``KEY_gray_real_live.json``) + the
mean APCER over the rendered dev printed, replay and 2D-mask clips run grey
(``KEY_gray_rendered_deployed_dev.json``; a clip with no verdict counts as an error), in points.
NUAA dev people grey (``KEY_gray_deployed_devpeople.json``) are printed, not scored.

    python weights/reports/round26/grey_score.py weights/reports/round26 mg mgy
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from model_card_matched import wrong_count  # noqa: E402

FAMILIES = ("printed", "replay", "2dmask")


def grey_figures(d: Path, key: str) -> dict:
    live = json.loads((d / f"{key}_gray_real_live.json").read_text())["ours"]
    rendered = json.loads((d / f"{key}_gray_rendered_deployed_dev.json").read_text())
    t = rendered["threshold"]
    apcer = {fam: wrong / n for fam, (wrong, n) in ((f, wrong_count(rendered["rows"], f, t)) for f in FAMILIES)}
    live_wrong, live_n = wrong_count(rendered["rows"], "real", t)
    out = {"videos_rejected": f"{live['video']['rejected']} of {live['video']['scored']}",
           "faces_rejected": f"{live['photo']['rejected']} of {live['photo']['scored']}",
           "rendered_live_rejected": f"{live_wrong} of {live_n}",
           "apcer": {f: round(100 * a, 1) for f, a in apcer.items()},
           "score": round(100 * (live["video"]["bpcer"] + live["photo"]["bpcer"] + sum(apcer.values()) / len(FAMILIES)), 1)}
    nuaa = d / f"{key}_gray_deployed_devpeople.json"
    if nuaa.exists():
        n = json.loads(nuaa.read_text())
        out["nuaa_dev"] = {k: n["ours"][k] for k in ("bpcer", "apcer_printed", "acer", "n_real", "n_attack")} | {"undecided": n["undecided"]}
    return out


def main(d: str, keys: list[str]) -> None:
    figs = {k: grey_figures(Path(d), k) for k in keys}
    base = figs[keys[0]]["score"]
    for k in keys:
        figs[k]["grey_condition"] = "baseline" if k == keys[0] else ("passes" if figs[k]["score"] < base else f"fails: {figs[k]['score']} >= {base}")
    print(json.dumps(figs, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
