"""What the second, finer look for small faces (``DetectorConfig.small_face_frac``) costs and
finds, through ``rtliveness run``'s loop (``process_source``, default backend, bundled weights).

Two clips written to a temporary folder:
* ``empty``: 150 frames of 640x480 with no face (the bench's textured background, drifting);
* ``small``: the bundled live clip scaled so its face is about 50 px wide, drifting across a 1920x1080
  frame of that background (100 frames).
Each runs ``--repeats`` times with the look on (default) and off (``small_face_frac=None``), in
turn; FPS is the median, with the main track's windows and label.

    python benchmarks/small_face_cost.py --json benchmarks/small_face_cost.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from rtliveness import DetectorConfig, LivenessPipeline, PipelineConfig, open_source
from rtliveness.bench.runner import machine_info
from rtliveness.bench.scenes import _background
from rtliveness.runtime.app import process_source

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        vw.write(f)
    vw.release()
    return path


def empty_clip(path: Path, n: int = 150) -> Path:
    bg = _background(640 + 200, 480)
    return write(path, [np.ascontiguousarray(bg[:, i:i + 640]) for i in range(n)])


def small_clip(path: Path, face_px: int = 50) -> Path:
    cap = cv2.VideoCapture(str(ROOT / "examples" / "live_webcam.mov"))
    src = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        src.append(f)
    # the bundled clip's face is about 83 px wide in its 320x240 frame (MTCNN)
    scale = face_px / 83.0
    tiles = [cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for f in src]
    bg = _background(1920, 1080)
    th, tw = tiles[0].shape[:2]
    frames = []
    for i, t in enumerate(tiles):
        img = bg.copy()
        x = int(700 + 400 * i / max(1, len(tiles) - 1))  # about 4 px a frame, a person walking slowly past
        y = int(500 + 60 * np.sin(i / 15))
        img[y:y + th, x:x + tw] = t
        frames.append(img)
    return write(path, frames)


def run_once(pipe: LivenessPipeline, clip: Path) -> tuple[float, int, str | None]:
    pipe.reset()
    earlier = {t.track_id for t in pipe.track_summaries()}
    t0 = time.perf_counter()
    with open_source(str(clip)) as src:
        rep = process_source(pipe, src)
    fps = rep.frames / (time.perf_counter() - t0)
    tracks = [t for t in rep.tracks if t.windows > 0 and t.track_id not in earlier]
    main = max(tracks, key=lambda t: t.windows) if tracks else None
    return fps, (main.windows if main else 0), (main.label if main else None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    settings = {"look on (default)": DetectorConfig(), "look off": DetectorConfig(small_face_frac=None)}
    pipes = {k: LivenessPipeline.from_config(PipelineConfig(detector=d, device="cpu")) for k, d in settings.items()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clips = {"empty 640x480": empty_clip(Path(tmp) / "empty.mp4"),
                 "50 px face in 1080p": small_clip(Path(tmp) / "small.mp4")}
        for name, clip in clips.items():
            runs: dict[str, list] = {k: [] for k in pipes}
            for _ in range(a.repeats):
                for k, pipe in pipes.items():
                    runs[k].append(run_once(pipe, clip))
            for k, r in runs.items():
                row = {"clip": name, "setting": k, "fps_median": round(statistics.median(x[0] for x in r), 1),
                       "fps": [round(x[0], 1) for x in r], "windows": r[0][1], "label": r[0][2]}
                rows.append(row)
                print(json.dumps(row), flush=True)
    for pipe in pipes.values():
        pipe.close()
    if a.json:
        a.json.write_text(json.dumps({"machine": machine_info(), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
