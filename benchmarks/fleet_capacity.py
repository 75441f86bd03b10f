"""How many streams one machine carries at a given FPS each: `rtliveness fleet` on N copies of a
real clip (local Ray), per-stream processing FPS and the scorer's batch sizes, as JSON.

    python benchmarks/fleet_capacity.py --streams 1 2 3 4 --frames 150 --out benchmarks/fleet_capacity.json

A stream "keeps up" with a camera at F FPS when its processing FPS (frames finished per second of
its own run, source decode, MTCNN every 3rd frame, scoring and JSON lines included) is >= F.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from rtliveness.fleet.config import FleetConfig
from rtliveness.fleet.controller import run_fleet
from rtliveness.bench.runner import cpu_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streams", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--frames", type=int, default=150, help="frames per stream (the clip is looped if needed)")
    ap.add_argument("--clip", type=Path, default=ROOT / "tests" / "data" / "talking_head.mov")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--target-fps", type=float, default=15.0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import cv2

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cap = cv2.VideoCapture(str(args.clip))
        frames = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(f)
        cap.release()
        seq = (frames + frames[::-1]) * (args.frames // (2 * len(frames)) + 1)
        h, w = frames[0].shape[:2]
        base = tmp / "clip.mp4"
        vw = cv2.VideoWriter(str(base), cv2.VideoWriter_fourcc(*"mp4v"), 25, (w, h))
        for f in seq[:args.frames]:
            vw.write(f)
        vw.release()
        for n in args.streams:
            sources = []
            for i in range(n):
                p = tmp / f"cam{i}.mp4"
                shutil.copy(base, p)
                sources.append(str(p))
            out = tmp / f"out{n}"
            t = time.perf_counter()
            doc = run_fleet(FleetConfig(sources=tuple(sources), out_dir=out, workers=min(args.workers, n),
                                        device="cpu"), log=lambda line: None)
            wall = time.perf_counter() - t
            fps = [s["fps"] for s in doc["sources"].values()]
            row = {"streams": n, "workers": min(args.workers, n), "frames_per_stream": args.frames,
                   "per_stream_fps": fps, "min_fps": min(fps), "median_fps": statistics.median(fps),
                   "total_fps": round(sum(fps), 2), "wall_s_including_ray_start": round(wall, 1),
                   "batch_sizes": doc["scorer"]["batch_sizes"],
                   "keeps_up": min(fps) >= args.target_fps}
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {"cpu": cpu_model(), "cores": __import__("os").cpu_count(), "clip": str(args.clip.name),
              "frame_size": [w, h], "target_fps": args.target_fps, "rows": rows,
              "streams_at_target": max([r["streams"] for r in rows if r["keeps_up"]], default=0)}
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
