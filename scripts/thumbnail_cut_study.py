"""Could a cut detector on tiny frame thumbnails tell a cut from a real camera's next frame?

The study behind the README's note that a thumbnail cut detector was measured and not adopted
(a track's window restarts on an embedding jump instead: ``TrackerConfig.restart_distance``).
Each frame becomes a 32×24 grey thumbnail (area interpolation); two frames are compared by the
Pearson correlation of their thumbnails' pixels. It reports the correlation of

* consecutive frames within each real NUAA session (raw webcam frames, every third frame kept in
  NUAA's release: the steps a slow camera or a skipped frame makes), live and printed-photo;
* cuts between sessions: the last frame of every session against the first frame of every other
  session (what an edited video joining two recordings shows);
* consecutive frames of real videos given with ``--video`` (a camera at its full frame rate).

    python scripts/thumbnail_cut_study.py --nuaa NUAA --video examples/live_webcam.mov ... \\
        --json weights/reports/tracking/thumbnail_cut.json

NUAA is research-use data, read from where you keep it, never copied into the project.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from rtliveness.bench.runner import cpu_model
from rtliveness.runtime.sources import FileSource
from rtliveness.training.nuaa import nuaa_sessions

SIZE = (32, 24)


def thumb(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return cv2.resize(grey, SIZE, interpolation=cv2.INTER_AREA).astype(np.float64).ravel()


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 1.0


def stats(values: list[float]) -> dict:
    v = np.asarray(values, np.float64)
    if not v.size:
        return {"n": 0}
    q = np.percentile(v, [1, 10, 50, 90, 99])
    return {"n": int(v.size), "min": float(v.min()), "p1": float(q[0]), "p10": float(q[1]), "median": float(q[2]),
            "p90": float(q[3]), "p99": float(q[4]), "max": float(v.max())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nuaa", type=Path, required=True)
    ap.add_argument("--video", type=Path, action="append", default=[])
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    within: dict[str, list[float]] = {"ClientRaw": [], "ImposterRaw": []}
    firsts, lasts = [], []
    for session in nuaa_sessions(a.nuaa):
        thumbs = [thumb(cv2.imread(str(p))) for p in session.frames]
        within[session.folder] += [corr(x, y) for x, y in zip(thumbs, thumbs[1:])]
        firsts.append(thumbs[0])
        lasts.append(thumbs[-1])
    cuts = [corr(lasts[i], firsts[j]) for i in range(len(lasts)) for j in range(len(firsts)) if i != j]
    videos = {}
    for v in a.video:
        with FileSource(v) as src:
            thumbs = [thumb(f.image_bgr) for f in src]
        videos[v.name] = stats([corr(x, y) for x, y in zip(thumbs, thumbs[1:])])
    both = within["ClientRaw"] + within["ImposterRaw"]
    report = {
        "cpu": cpu_model(), "thumbnail": list(SIZE), "sessions": len(firsts),
        "nuaa_consecutive": stats(both),
        "nuaa_consecutive_live": stats(within["ClientRaw"]),
        "nuaa_consecutive_printed": stats(within["ImposterRaw"]),
        "nuaa_cuts_between_sessions": stats(cuts),
        "nuaa_consecutive_at_or_below_cut_p90": float(np.mean(np.asarray(both) <= np.percentile(cuts, 90))),
        "videos_consecutive": videos,
    }
    print(json.dumps(report, indent=1))
    if a.json:
        a.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
