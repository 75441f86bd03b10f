"""Read after a round, not a rule: every model of a round at the threshold where it rejects as
many real live photo faces as the baseline does at its own, and what its rendered dev clips and
photos then give. A candidate that lets fewer rendered attacks through only because it leans
towards "spoof" on everyone shows it here: at equal real live BPCER its gain is gone.

REPORTS_DIR/candidates.json lists the keys (exactly one "baseline": true); each key needs
KEY_real_live.json (scripts/eval_real_live.py), KEY_rendered_deployed_dev.json and
KEY_rendered_photos_dev.json (scripts/eval_rendered_deployed.py). Prints JSON.

    python model_card_matched.py ../weights/reports/round24 > ../weights/reports/round24/matched.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

CLASSES = ("real", "printed", "replay", "2dmask")
RENDERED = ("rendered_deployed_dev", "rendered_photos_dev")


def photo_faces(report: dict) -> np.ndarray:
    """The real live photo faces' p_spoof, highest first (videos and faces without a score left out)."""
    ps = [r["p"] for r in report["rows"] if r["kind"] != "video" and r["p"] is not None]
    return np.sort(np.array(ps, dtype=np.float64))[::-1]


def matched_threshold(faces_desc: np.ndarray, target: int) -> float:
    """A threshold that rejects ``target`` of the faces (p_spoof >= t): between the target-th and
    the next highest score (ties can make it reject more; the caller reports the count)."""
    if not 0 <= target <= len(faces_desc):
        raise ValueError(f"cannot reject {target} of {len(faces_desc)} faces")
    if target == 0:
        return float(np.nextafter(faces_desc[0], np.inf))
    if target == len(faces_desc):
        return float(faces_desc[-1])
    return float((faces_desc[target - 1] + faces_desc[target]) / 2)


def wrong_count(rows: list[dict], cls: str, t: float) -> tuple[int, int]:
    """(wrong verdicts, clips) of one class at threshold t; no verdict counts as wrong."""
    ps = [r["p"] for r in rows if r["class"] == cls]
    return sum(p is None or ((p >= t) if cls == "real" else (p < t)) for p in ps), len(ps)


def errors_at(rows: list[dict], cls: str, t: float) -> str:
    """Wrong verdicts of one class at threshold t, as "k of n"."""
    wrong, n = wrong_count(rows, cls, t)
    return f"{wrong} of {n}"


def matched(reports_dir: Path) -> dict:
    rows = json.loads((reports_dir / "candidates.json").read_text())
    base = [r["key"] for r in rows if r.get("baseline")]
    if len(base) != 1:
        raise ValueError(f"{reports_dir / 'candidates.json'}: exactly one row must have \"baseline\": true")

    def load(key: str, what: str) -> dict:
        return json.loads((reports_dir / f"{key}_{what}.json").read_text())

    ref = load(base[0], "real_live")
    target = int((photo_faces(ref) >= ref["threshold"]).sum())
    out: dict = {"baseline": base[0], "target_faces_rejected": target, "models": {}}
    for key in (r["key"] for r in rows):
        live = load(key, "real_live")
        faces = photo_faces(live)
        t = matched_threshold(faces, target)
        videos = [r["p"] for r in live["rows"] if r["kind"] == "video"]
        row = {"own_threshold": round(live["threshold"], 4), "matched_threshold": round(t, 4),
               "faces_rejected": int((faces >= t).sum()),
               "videos_rejected": int(sum(p is not None and p >= t for p in videos))}
        for what in RENDERED:
            rendered = load(key, what)["rows"]
            for cls in CLASSES:
                row[f"{what}:{cls}"] = errors_at(rendered, cls, t)
        out["models"][key] = row
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: model_card_matched.py REPORTS_DIR", file=sys.stderr)
        return 2
    try:
        print(json.dumps(matched(Path(argv[0])), indent=1))
    except (OSError, ValueError, KeyError) as e:
        print(f"{argv[0]}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
