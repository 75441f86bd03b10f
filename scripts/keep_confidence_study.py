"""What ``DetectorConfig.keep_confidence`` changes on real videos, clean and under the camera
conditions of ``rtliveness.training.degrade.CONDITIONS``.

Every video (its first ``--max-frames`` frames) is degraded frame by frame (seeded) and stepped
through ``LivenessPipeline.from_config`` with each ``--keep`` value ("off" = None: every face
needs ``min_confidence``). Per run: frames with a face, face verdicts (not pending), distinct
track ids, and the verdict labels.

    python scripts/keep_confidence_study.py --video assets/carphone_pristine.mp4 \
        --video examples/live_webcam.mov --pan assets/dogs.jpg --bench file,one,four --json weights/reports/tracking/keep_confidence.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from rtliveness import DetectorConfig, LivenessPipeline, PipelineConfig
from rtliveness.bench.runner import cpu_model
from rtliveness.training.degrade import CONDITIONS, apply


def read(path: Path, limit: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise SystemExit(f"no frames could be read from {path}")
    return frames


def pan(image_path: Path, n: int, size=(320, 240)) -> list[np.ndarray]:
    """``n`` frames of a camera panning over a still (a scene with no face, say)."""
    img = cv2.imread(str(image_path))
    if img is None:
        raise SystemExit(f"cannot read {image_path}")
    w, h = size
    if img.shape[0] < h or img.shape[1] < w:
        img = cv2.resize(img, (max(w, img.shape[1]), max(h, img.shape[0])))
    H, W = img.shape[:2]
    out = []
    for i in range(n):
        x = int((W - w) * (0.5 + 0.5 * np.sin(i / 20)))
        y = int((H - h) * (0.5 + 0.5 * np.cos(i / 25)))
        out.append(np.ascontiguousarray(img[y:y + h, x:x + w]))
    return out


def run(pipe: LivenessPipeline, frames: list[np.ndarray]) -> dict:
    pipe.reset()
    face_frames = verdicts = 0
    ids: set[int] = set()
    labels: dict[str, int] = {}
    for frame in frames:
        faces = pipe.step(frame).faces
        face_frames += bool(faces)
        for v in faces:
            ids.add(v.track_id)
            if v.label != "pending":
                verdicts += 1
                labels[v.label] = labels.get(v.label, 0) + 1
    return {"face_frames": face_frames, "verdicts": verdicts, "tracks": len(ids), "labels": labels}


def bench_rows(pipes: dict, cases: list[str]) -> list[dict]:
    """The bench's clips (``rtliveness bench`` cases): is every frame's (track, box, label) the
    same under each setting? (Then the bench's figures hold for both.)"""
    import tempfile

    from rtliveness.bench.scenes import prepare_case

    rows = []
    with tempfile.TemporaryDirectory() as work:
        for case in cases:
            info = prepare_case(case, Path(work))
            if info is None:
                continue
            frames = read(Path(info["video"]), 10_000)
            faces = {}
            for k, pipe in pipes.items():
                pipe.reset()
                ids: dict[int, int] = {}  # track ids keep counting across reset(): numbered here from 1
                faces[k] = [tuple((ids.setdefault(v.track_id, len(ids) + 1), tuple(round(x, 2) for x in v.box.as_list()),
                                   v.label) for v in pipe.step(f).faces) for f in frames]
            first = next(iter(faces.values()))
            rows.append({"case": case, "frames": len(frames), "faces": sum(map(len, first)),
                         "identical": all(v == first for v in faces.values())})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, action="append", default=[])
    ap.add_argument("--pan", type=Path, action="append", default=[], help="a still to pan over (320x240 frames)")
    ap.add_argument("--keep", action="append", default=None, help="keep_confidence values (default: off and 0.7)")
    ap.add_argument("--condition", action="append", default=None, help="clean or a name of CONDITIONS (default: all)")
    ap.add_argument("--max-frames", type=int, default=150)
    ap.add_argument("--bench", default=None, help="bench cases to compare frame by frame, e.g. file,one,four")
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    keeps = [None if k == "off" else float(k) for k in (a.keep or ["off", "0.7"])]
    conditions = a.condition or ["clean", *CONDITIONS]
    pipes = {k: LivenessPipeline.from_config(PipelineConfig(weights=a.weights, device="cpu",
                                                            detector=DetectorConfig(keep_confidence=k)))
             for k in keeps}
    rows = []
    clips = [(v.name, lambda v=v: read(v, a.max_frames)) for v in a.video]
    clips += [(f"pan:{p.name}", lambda p=p: pan(p, a.max_frames)) for p in a.pan]
    if not clips and not a.bench:
        ap.error("give at least one --video, --pan or --bench")
    for name, load in clips:
        frames = load()
        for cond in conditions:
            rng = np.random.default_rng(0)
            shown = frames if cond == "clean" else [apply(f, CONDITIONS[cond], rng) for f in frames]
            row = {"video": name, "condition": cond, "frames": len(shown)}
            for k, pipe in pipes.items():
                row["off" if k is None else str(k)] = run(pipe, shown)
            rows.append(row)
            print(json.dumps(row), flush=True)
    bench = bench_rows(pipes, a.bench.split(",")) if a.bench else []
    for pipe in pipes.values():
        pipe.close()
    if a.json:
        a.json.write_text(json.dumps({"cpu": cpu_model(), "keeps": [
            "off" if k is None else k for k in keeps], "rows": rows, "bench": bench}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
