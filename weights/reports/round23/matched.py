"""Read after round 23, not a rule: each model at the threshold where it rejects as many of
the 94 real live photo faces as MG does at its own (11), and what its rendered dev clips and
photos then give. Run from the repository root: python weights/reports/round23/matched.py"""
import json
from pathlib import Path

import numpy as np

R = Path(__file__).resolve().parent
SRC = {"mg": R, "mgh": R}


def load(key, what):
    return json.loads((SRC[key] / f"{key}_{what}.json").read_text())


def main():
    base = load("mg", "real_live")
    faces_mg = np.array([r["p"] for r in base["rows"] if r["kind"] != "video"])
    target = int((faces_mg >= base["threshold"]).sum())
    out = {"target_faces_rejected": target, "models": {}}
    for key in SRC:
        live = load(key, "real_live")
        faces = np.sort(np.array([r["p"] for r in live["rows"] if r["kind"] != "video"]))[::-1]
        t = float((faces[target - 1] + faces[target]) / 2)      # between the 11th and 12th highest
        videos = [r["p"] for r in live["rows"] if r["kind"] == "video"]
        row = {"own_threshold": round(live["threshold"], 4), "matched_threshold": round(t, 4),
               "faces_rejected": int((faces >= t).sum()), "videos_rejected": int(sum(p is not None and p >= t for p in videos))}
        for what in ("rendered_deployed_dev", "rendered_photos_dev"):
            rows = load(key, what)["rows"]
            for cls in ("real", "printed", "replay", "2dmask"):
                ps = [r["p"] for r in rows if r["class"] == cls]
                wrong = sum(p is None or ((p >= t) if cls == "real" else (p < t)) for p in ps)
                row[f"{what}:{cls}"] = f"{wrong} of {len(ps)}"
        out["models"][key] = row
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
