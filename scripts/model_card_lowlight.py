"""Round 20's table and verdict: the low-light crop gain on dev, off against on
(``weights/reports/round20/RULE.md``, written before the figures).

    python model_card_lowlight.py ../weights/reports/round20 [--json verdict.json]

Reads, for each condition C of clean, dim, dark and each setting off / gain:
``N_C_SETTING.json`` (``eval_nuaa_deployed.py``, NUAA dev people), ``S_C_SETTING.json``
(``eval_rendered_deployed.py --split dev``), and ``R_videos_SETTING.json``
(``eval_video_conditions.py`` over the real live videos, all three conditions) and
``R_photos_SETTING.json`` (``eval_real_live.py --photos``, clean). A clip, session or video with
no verdict counts as an error for its class, as the rule says.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CONDITIONS = ("clean", "dim", "dark")
SETTINGS = ("off", "gain")
LIVE_SETS = ("R videos", "N live")
ATTACK_SETS = ("N printed", "S printed", "S replay", "S 2D mask")
FAMILY_CAP = 0.084  # an attack set's APCER may rise by at most this much (the earlier rules' cap)
CLEAN_SLACK = 0.01  # clean: the score may rise by at most 1 point
PHOTO_SLACK = 2  # clean: at most this many more real photo faces rejected
TARGETS = {"off": 0.0, "gain": 0.35}  # each setting's --low-light-target (the rule's candidate)


class ReportError(ValueError):
    """A report that is not the one its file name says, or a set with no item."""


def read(folder: Path, name: str, setting: str, condition: str | None = None) -> list[dict]:
    """The rows of ``name``, after checking it was made with ``setting``'s target (and
    ``condition``: None for the clean N and S reports, which record none)."""
    path = folder / name
    report = json.loads(path.read_text())
    if report.get("low_light_target") != TARGETS[setting]:
        raise ReportError(f"{path}: made with --low-light-target {report.get('low_light_target')}, "
                          f"expected {TARGETS[setting]} for '{setting}'")
    if condition is not None and report.get("condition") != (None if condition == "clean" else condition):
        raise ReportError(f"{path}: made under condition {report.get('condition')}, expected {condition}")
    return report["rows"]


def errors(verdicts: list[str | None], live: bool) -> tuple[int, int]:
    """(errors, items): a live item is wrong unless ``live``, an attack unless ``spoof``."""
    if not verdicts:
        raise ReportError("a set of the rule has no item")
    good = "live" if live else "spoof"
    return sum(v != good for v in verdicts), len(verdicts)


def set_counts(folder: Path, condition: str, setting: str) -> dict[str, tuple[int, int]]:
    """Errors and items of every set of the rule, and the rendered live clips (reported only)."""
    n = read(folder, f"N_{condition}_{setting}.json", setting, condition)
    s = read(folder, f"S_{condition}_{setting}.json", setting, condition)
    r = read(folder, f"R_videos_{setting}.json", setting)
    out = {
        "R videos": errors([x["verdict"] for x in r if x["condition"] == condition], live=True),
        "N live": errors([x["ours"] for x in n if x["label"] == "real"], live=True),
        "N printed": errors([x["ours"] for x in n if x["label"] != "real"], live=False),
    }
    for cls, name in (("printed", "S printed"), ("replay", "S replay"), ("2dmask", "S 2D mask")):
        out[name] = errors([x["label"] for x in s if x["class"] == cls], live=False)
    out["S live (not scored)"] = errors([x["label"] for x in s if x["class"] == "real"], live=True)
    return out


def rate(c: tuple[int, int]) -> float:
    return c[0] / c[1]


def score(counts: dict[str, tuple[int, int]]) -> float:
    """Mean BPCER over the live sets + mean APCER over the attack sets."""
    return (sum(rate(counts[k]) for k in LIVE_SETS) / len(LIVE_SETS)
            + sum(rate(counts[k]) for k in ATTACK_SETS) / len(ATTACK_SETS))


def photo_rejections(folder: Path, setting: str) -> tuple[int, int]:
    rows = [x for x in read(folder, f"R_photos_{setting}.json", setting) if x["kind"] == "photo"]
    return errors([x["label"] for x in rows], live=True)


def decide(table: dict, photos: dict) -> list[tuple[str, bool, str]]:
    """The rule's four conditions: (what, holds, the figures)."""
    sc = {(c, s): score(table[c, s]) for c in CONDITIONS for s in SETTINGS}
    off_dd, on_dd = sc["dim", "off"] + sc["dark", "off"], sc["dim", "gain"] + sc["dark", "gain"]
    rises = [(c, k, rate(table[c, "gain"][k]) - rate(table[c, "off"][k])) for c in CONDITIONS for k in ATTACK_SETS]
    worst = max(rises, key=lambda x: x[2])
    more_videos = [(c, table[c, "gain"]["R videos"][0], table[c, "off"]["R videos"][0]) for c in CONDITIONS]
    return [
        ("1. dim + dark score lower with the gain", on_dd < off_dd, f"{100 * on_dd:.1f} vs {100 * off_dd:.1f}"),
        ("2. clean: score within +1 point, photo faces within +2",
         sc["clean", "gain"] <= sc["clean", "off"] + CLEAN_SLACK and photos["gain"][0] <= photos["off"][0] + PHOTO_SLACK,
         f"score {100 * sc['clean', 'gain']:.1f} vs {100 * sc['clean', 'off']:.1f}; "
         f"photo faces {photos['gain'][0]} vs {photos['off'][0]} of {photos['off'][1]}"),
        ("3. no attack set's APCER up by more than 8.4 points", worst[2] <= FAMILY_CAP + 1e-12,
         f"largest rise {100 * worst[2]:+.1f} points ({worst[1]}, {worst[0]})"),
        ("4. no more real live videos rejected", all(g <= o for _, g, o in more_videos),
         "; ".join(f"{c} {g} vs {o}" for c, g, o in more_videos)),
    ]


def load(folder: Path) -> tuple[dict, dict]:
    table = {(c, s): set_counts(folder, c, s) for c in CONDITIONS for s in SETTINGS}
    photos = {s: photo_rejections(folder, s) for s in SETTINGS}
    return table, photos


def markdown(table: dict, photos: dict, checks: list[tuple[str, bool, str]]) -> str:
    sets = [*LIVE_SETS, *ATTACK_SETS, "S live (not scored)"]
    head = "| condition | gain | " + " | ".join(sets) + " | score |"
    lines = [head, "|" + " --- |" * (len(sets) + 3)]
    for c in CONDITIONS:
        for s in SETTINGS:
            cells = [f"{e} of {n}" for e, n in (table[c, s][k] for k in sets)]
            lines.append(f"| {c} | {s} | " + " | ".join(cells) + f" | {100 * score(table[c, s]):.1f} |")
    lines.append("")
    lines.append(f"Real live photo faces rejected (clean): off {photos['off'][0]} of {photos['off'][1]}, "
                 f"gain {photos['gain'][0]} of {photos['gain'][1]}.")
    lines.append("")
    for what, ok, detail in checks:
        lines.append(f"- {what}: {'holds' if ok else 'FAILS'} ({detail})")
    lines.append("")
    lines.append("Verdict: the gain goes on by default." if all(ok for _, ok, _ in checks)
                 else "Verdict: the gain stays off by default (an option).")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    try:
        table, photos = load(a.folder)
    except FileNotFoundError as e:
        print(f"missing report {e.filename}: run the round's commands first (see the folder's README)", file=sys.stderr)
        return 2
    except ReportError as e:
        print(e, file=sys.stderr)
        return 2
    checks = decide(table, photos)
    print(markdown(table, photos, checks))
    if a.json:
        a.json.write_text(json.dumps({
            "counts": {f"{c}/{s}": {k: list(v) for k, v in table[c, s].items()} for c in CONDITIONS for s in SETTINGS},
            "scores": {f"{c}/{s}": score(table[c, s]) for c in CONDITIONS for s in SETTINGS},
            "photo_faces_rejected": {s: list(v) for s, v in photos.items()},
            "checks": [{"what": w, "holds": ok, "figures": d} for w, ok, d in checks],
            "gain_on_by_default": all(ok for _, ok, _ in checks)}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
