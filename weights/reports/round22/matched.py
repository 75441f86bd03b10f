"""Read after both rounds, not a rule: each model at the threshold where it rejects as many of
the 94 real live photo faces as MG does at its own (11), and what its rendered dev clips and
photos then give. Run from the repository root: python weights/reports/round22/matched.py

The computation is scripts/model_card_matched.py's; this file only reads MGX's reports from
round 21's folder, beside the others here."""
import json
import sys
from pathlib import Path

R = Path(__file__).resolve().parent
sys.path.insert(0, str(R.parents[2] / "scripts"))
from model_card_matched import CLASSES, RENDERED, errors_at, matched_threshold, photo_faces  # noqa: E402

SRC = {"mg": R, "mgx": R.parent / "round21", "mgs": R, "mgt": R}


def load(key, what):
    return json.loads((SRC[key] / f"{key}_{what}.json").read_text())


def main():
    base = load("mg", "real_live")
    target = int((photo_faces(base) >= base["threshold"]).sum())
    out = {"target_faces_rejected": target, "models": {}}
    for key in SRC:
        live = load(key, "real_live")
        faces = photo_faces(live)
        t = matched_threshold(faces, target)
        videos = [r["p"] for r in live["rows"] if r["kind"] == "video"]
        row = {"own_threshold": round(live["threshold"], 4), "matched_threshold": round(t, 4),
               "faces_rejected": int((faces >= t).sum()), "videos_rejected": int(sum(p is not None and p >= t for p in videos))}
        for what in RENDERED:
            rows = load(key, what)["rows"]
            for cls in CLASSES:
                row[f"{what}:{cls}"] = errors_at(rows, cls, t)
        out["models"][key] = row
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
