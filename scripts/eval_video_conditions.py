"""Whole videos under hard capture conditions, through the deployed loop.

Each video is read, every frame degraded by a named condition of
``rtliveness.training.degrade.CONDITIONS`` (or left clean), written to a temporary file and run
through ``LivenessPipeline.from_config`` + ``process_source`` as ``rtliveness run`` does. The
verdict is the main track's summary (the track with the most scored windows).

    python scripts/eval_video_conditions.py --weights W.pt --video live=examples/live_webcam.mov \
        --video spoof=examples/attack_printed.mp4 --condition clean --condition dim --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from rtliveness import LivenessPipeline, PipelineConfig
from rtliveness.training.degrade import CONDITIONS, apply

from eval_nuaa_deployed import add_low_light_arg, positive_int, run_video


def degraded_copy(src: Path, out: Path, condition: str, seed: int, max_frames: int | None = None) -> int:
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    rng = np.random.default_rng(seed)
    vw, n = None, 0
    while max_frames is None or n < max_frames:
        ok, frame = cap.read()
        if not ok:
            break
        if vw is None:
            h, w = frame.shape[:2]
            vw = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        vw.write(frame if condition == "clean" else apply(frame, CONDITIONS[condition], rng))
        n += 1
    cap.release()
    if vw is not None:
        vw.release()
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--video", action="append", required=True, help="LABEL=PATH, LABEL live or spoof (repeatable)")
    ap.add_argument("--condition", action="append", default=None, help="clean or a CONDITIONS name (repeatable; default all)")
    ap.add_argument("--max-frames", type=positive_int, default=None, help="only the first N frames of each video")
    ap.add_argument("--json", type=Path, default=None)
    add_low_light_arg(ap)
    a = ap.parse_args()
    conditions = a.condition or ["clean", *CONDITIONS]
    rows = []
    with tempfile.TemporaryDirectory() as tmp, LivenessPipeline.from_config(PipelineConfig(weights=a.weights, low_light_target=a.low_light_target)) as pipe:
        for vi, spec in enumerate(a.video):
            label, path = spec.split("=", 1)
            for ci, cond in enumerate(conditions):
                video = Path(tmp) / f"v{vi}_{cond}.avi"
                degraded_copy(Path(path), video, cond, seed=vi * 100 + ci, max_frames=a.max_frames)
                rep, main = run_video(pipe, video)
                row = {"video": path, "truth": label, "condition": cond, "frames": rep.frames,
                       "verdict": None if main is None else main.label,
                       "mean_p_spoof": None if main is None else round(main.mean_p_spoof, 4),
                       "windows": 0 if main is None else main.windows}
                rows.append(row)
                print(f"{Path(path).name:>28} {cond:>10}: {row['verdict']} (mean p_spoof {row['mean_p_spoof']}, {row['windows']} windows)",
                      flush=True)
        threshold = pipe.threshold
    report = {"weights": str(a.weights), "threshold": threshold, "low_light_target": a.low_light_target, "rows": rows}
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
