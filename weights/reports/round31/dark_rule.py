"""Round 31's conditions 7 and 8 (RULE.md), from the files beside this script.

    python weights/reports/round31/dark_rule.py DIR BASE_KEY CAND_KEY [--json OUT]

(DIR: the round's reports folder, e.g. weights/reports/round31 or round32)

7. real live videos dim + dark (KEY_R_videos_off.json): fewer (video, condition) pairs rejected
   than the baseline (no verdict counts as rejected);
8a. NUAA dev people in the dark (KEY_deployed_devpeople_dark.json): printed sessions accepted at
    most the baseline's + 1;
8b. rendered dev clips in the dark (KEY_rendered_deployed_dev_dark.json): each family's APCER at
    most the baseline's + 8.4 points.
"""
import json
import sys
from pathlib import Path

MAX_FAMILY_LOSS = 8.4


def figures(here: Path, key: str) -> dict:
    rv = json.loads((here / f"{key}_R_videos_off.json").read_text())
    pairs = [r for r in rv["rows"] if r["condition"] in ("dim", "dark")]
    n = json.loads((here / f"{key}_deployed_devpeople_dark.json").read_text())["ours"]
    s = json.loads((here / f"{key}_rendered_deployed_dev_dark.json").read_text())["groups"]["all"]
    return {"real_live_dim_dark_rejected": sum(r["verdict"] != "live" for r in pairs), "pairs": len(pairs),
            "nuaa_dark_printed_accepted": round(n["apcer_printed"] * n["n_attack"]), "nuaa_dark_printed": n["n_attack"],
            "nuaa_dark_live_rejected": round(n["bpcer"] * n["n_real"]), "nuaa_dark_live": n["n_real"],
            "rendered_dark_apcer": {k: round(100 * v, 1) for k, v in s["apcer"].items()},
            "rendered_dark_bpcer": round(100 * s["bpcer"], 1)}


def main() -> int:
    here, base_key, cand_key = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    b, c = figures(here, base_key), figures(here, cand_key)
    checks = {
        "7 real live dim+dark: fewer rejected": c["real_live_dim_dark_rejected"] < b["real_live_dim_dark_rejected"],
        "8a NUAA dev dark: printed accepted <= base + 1": c["nuaa_dark_printed_accepted"] <= b["nuaa_dark_printed_accepted"] + 1,
        "8b rendered dev dark: every family APCER <= base + 8.4": all(
            c["rendered_dark_apcer"][k] <= b["rendered_dark_apcer"][k] + MAX_FAMILY_LOSS for k in b["rendered_dark_apcer"]),
    }
    out = {"base": {base_key: b}, "candidate": {cand_key: c}, "checks": checks, "passes": all(checks.values())}
    text = json.dumps(out, indent=1)
    print(text)
    if "--json" in sys.argv:
        Path(sys.argv[sys.argv.index("--json") + 1]).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
