"""The opt-in steady detection cadence against the shipped fixed one on real videos: recall,
box accuracy, verdicts and detection cost, side by side.

For every video a reference run detects on every frame (whole frame, fixed cadence) and gives
each frame's true face boxes. Each setting then runs the whole video through
``LivenessPipeline.from_config`` (bundled weights, the shipped configuration with the setting's
``DetectorConfig`` overrides) and is scored per frame against the reference:

* ``with_face``: frames on which a face is reported (detected or carried by the tracker);
* ``found``: reference faces matched by a reported box with IoU >= 0.5 (recall), ``extra``:
  reported boxes that match no reference face;
* ``iou_mean`` / ``iou_p05``: IoU of the matched boxes with the reference (the crops the model
  sees follow these boxes);
* ``dp_max`` / ``dp_mean`` / ``label_flips``: per frame, the largest face's p_spoof against the
  fixed cadence's on the same frame (where both have one);
* ``runs`` and ``detect_ms_per_frame``: detector runs and their cost.

    python benchmarks/cadence_study.py VIDEO [VIDEO ...] [--nuaa PATH/TO/nuaa --nuaa-sessions 40] \
        [--generated-four] --json benchmarks/cadence_study.json

``--generated-four`` adds the bench's generated four-face video (not real: the only multi-face
video at hand, reported on its own).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect_recall import cpu_name, nuaa_sessions, video_frames  # noqa: E402

from rtliveness.config import DetectorConfig, PipelineConfig  # noqa: E402
from rtliveness.runtime.pipeline import LivenessPipeline  # noqa: E402
from rtliveness.runtime.track import greedy_pairs, iou_matrix  # noqa: E402

REFERENCE = {"every_n": 1, "steady_every": None, "full_every": 1}
SETTINGS = {"fixed every 3rd (shipped)": {}, "steady 3/4": {"steady_every": 4}, "steady 3/5": {"steady_every": 5}}
BASE = "fixed every 3rd (shipped)"


def run(frames, overrides: dict) -> dict:
    cfg = PipelineConfig(detector=replace(DetectorConfig(), **overrides), verify_checksum=False)
    boxes, p, runs = [], [], 0
    with LivenessPipeline.from_config(cfg) as pipe:
        t0 = time.perf_counter()
        for f in frames:
            r = pipe.step(f)
            runs += r.detected
            boxes.append([v.box for v in r.faces])
            big = max(r.faces, key=lambda v: v.box.width * v.box.height, default=None)
            p.append(None if big is None or big.p_spoof is None else big.p_spoof)
        wall = time.perf_counter() - t0
        det = pipe.timings.seconds["detect"]
        thr = pipe.threshold
    n = max(1, len(frames))
    return {"boxes": boxes, "p": p, "threshold": thr, "runs": runs, "detect_ms_per_frame": 1000 * det / n,
            "ms_per_frame": 1000 * wall / n}


def _dp(a_p, b_p, a_thr, b_thr):
    dps, flips = [], 0
    for a, b in zip(a_p, b_p):
        if a is not None and b is not None:
            dps.append(abs(a - b))
            flips += (a >= a_thr) != (b >= b_thr)
    return dps, flips


def score(res: dict, ref: dict, base: dict) -> dict:
    found = extra = total = with_face = 0
    ious: list[float] = []
    for got, want in zip(res["boxes"], ref["boxes"]):
        with_face += bool(got)
        total += len(want)
        m = iou_matrix(list(got), list(want))
        pairs = greedy_pairs(m, 0.5)
        ious += [float(m[g, w]) for g, w in pairs]
        found += len(pairs)
        extra += len(got) - len(pairs)
    dps, flips = _dp(res["p"], base["p"], res["threshold"], base["threshold"])
    ref_dps, ref_flips = _dp(res["p"], ref["p"], res["threshold"], ref["threshold"])
    return {"with_face": with_face, "reference_faces": total, "found": found, "extra": extra,
            "iou_mean": round(float(np.mean(ious)), 4) if ious else None,
            "iou_p05": round(float(np.quantile(ious, 0.05)), 4) if ious else None,
            "dp_max": round(max(dps), 4) if dps else None, "dp_mean": round(float(np.mean(dps)), 5) if dps else None,
            "scored_frames": len(dps), "label_flips": int(flips),
            "dp_every_frame_max": round(max(ref_dps), 4) if ref_dps else None,
            "dp_every_frame_mean": round(float(np.mean(ref_dps)), 5) if ref_dps else None,
            "label_flips_every_frame": int(ref_flips), "runs": res["runs"],
            "detect_ms_per_frame": round(res["detect_ms_per_frame"], 2), "ms_per_frame": round(res["ms_per_frame"], 2)}


def generated_four(work: Path):
    from rtliveness.bench.scenes import make_synthetic_video

    path = make_synthetic_video(work / "four.mp4", faces=4, frames=160)
    return "generated four faces (not real)", list(video_frames(path))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="*", type=Path)
    ap.add_argument("--nuaa", type=Path)
    ap.add_argument("--nuaa-sessions", type=int, default=40)
    ap.add_argument("--generated-four", action="store_true")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    clips = [(v.name, list(video_frames(v))) for v in a.videos]
    if a.nuaa is not None:
        clips += list(nuaa_sessions(a.nuaa, a.nuaa_sessions))
    with tempfile.TemporaryDirectory() as tmp:
        if a.generated_four:
            clips.append(generated_four(Path(tmp)))
        rows = []
        for name, frames in clips:
            ref = run(frames, REFERENCE)
            results = {label: run(frames, o) for label, o in SETTINGS.items()}
            row = {"video": name, "frames": len(frames), "real": not name.startswith("generated")}
            row.update({label: score(res, ref, results[BASE]) for label, res in results.items()})
            rows.append(row)
            print(name, {k: (v["found"], v["reference_faces"], v["iou_mean"], v["dp_max"], v["runs"])
                         for k, v in row.items() if isinstance(v, dict)}, flush=True)
    total = {}
    real = [r for r in rows if r["real"]]
    for label in SETTINGS:
        s = [r[label] for r in real]
        total[label] = {
            "videos": len(s), "frames": sum(r["frames"] for r in real),
            "reference_faces": sum(x["reference_faces"] for x in s), "found": sum(x["found"] for x in s),
            "with_face": sum(x["with_face"] for x in s), "extra": sum(x["extra"] for x in s),
            "videos_with_fewer_found_than_fixed": sum(x["found"] < r[BASE]["found"] for x, r in zip(s, real)),
            "iou_mean": round(float(np.mean([x["iou_mean"] for x in s if x["iou_mean"] is not None])), 4),
            "iou_p05_min": min(x["iou_p05"] for x in s if x["iou_p05"] is not None),
            "dp_max": max((x["dp_max"] for x in s if x["dp_max"] is not None), default=None),
            "label_flips": sum(x["label_flips"] for x in s),
            "dp_every_frame_max": max((x["dp_every_frame_max"] for x in s if x["dp_every_frame_max"] is not None),
                                      default=None),
            "dp_every_frame_mean": round(float(np.mean([x["dp_every_frame_mean"] for x in s
                                                        if x["dp_every_frame_mean"] is not None])), 5),
            "label_flips_every_frame": sum(x["label_flips_every_frame"] for x in s), "scored_frames": sum(x["scored_frames"] for x in s),
            "runs": sum(x["runs"] for x in s),
            "detect_ms_per_frame_median": round(float(np.median([x["detect_ms_per_frame"] for x in s])), 2),
        }
    report = {"cpu": cpu_name(), "reference": REFERENCE, "settings": SETTINGS, "total_real": total, "videos": rows}
    print(json.dumps(total, indent=1))
    if a.json:
        a.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
