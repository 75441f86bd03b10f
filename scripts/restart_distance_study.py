"""How far a track's consecutive crop embeddings move, through the deployed loop — the study
behind ``TrackerConfig.restart_distance`` (a track's window restarts past it).

Through ``LivenessPipeline.from_config`` (default detector cadence, tracker and backend; the
restart itself off, so every distance is seen), it records the cosine distance between each
crop's embedding and the previous crop's of the same track:

* real live videos (``--video``), clean and under each camera condition of
  :mod:`rtliveness.training.degrade` (``--conditions-video``, first 200 frames);
* NUAA sessions (``--nuaa``): consecutive frames of live and of printed-photo sessions; and,
  for a face replaced in the same place, every pair (live crop of a person, printed crop of the
  same person) and (live crop, live crop of another person);
* a printed photo cut in where a live face was (the bundled live clip's first K frames, then
  the bundled printed attack): what ``decide()`` answers with the restart off and at the default.

    python scripts/restart_distance_study.py --nuaa NUAA --video examples/live_webcam.mov \\
        --video V2 ... --conditions-video V --json weights/reports/tracking/restart_distance.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from rtliveness import LivenessPipeline, PipelineConfig, TrackerConfig
from rtliveness.runtime.decision import decide
from rtliveness.runtime.sources import FileSource
from rtliveness.training.degrade import CONDITIONS, apply
from rtliveness.training.nuaa import nuaa_sessions

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.06, 0.08, 0.10, 0.12)


def frames_of(path: Path, limit: int | None = None) -> list[np.ndarray]:
    with FileSource(path) as src:
        return [f.image_bgr for _, f in zip(range(limit or 10**9), src)]


def distances(pipe: LivenessPipeline, frames: list[np.ndarray]) -> tuple[list[float], np.ndarray | None]:
    """Consecutive-crop distances of every track, and the main track's embeddings."""
    pipe.reset()
    seen: dict[int, list[np.ndarray]] = defaultdict(list)
    out: list[float] = []
    push = pipe.buffer.push

    def record(tid, item):
        d = pipe.buffer.distance_to_last(tid, item)
        if d is not None:
            out.append(d)
        seen[tid].append(np.asarray(item, np.float64))
        return push(tid, item)

    pipe.buffer.push = record
    try:
        for f in frames:
            pipe.step(f)
    finally:
        pipe.buffer.push = push
    main = max(seen, key=lambda k: len(seen[k])) if seen else None
    return out, (np.stack(seen[main]) if main is not None else None)


def stats(d) -> dict:
    d = np.asarray(d, np.float64)
    if not d.size:
        return {"n": 0}
    return {"n": int(d.size), "median": float(np.median(d)), "p99": float(np.percentile(d, 99)), "max": float(d.max()),
            "over": {f"{t:.2f}": int((d > t).sum()) for t in THRESHOLDS}}


def pair_rates(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (1.0 - a @ b.T).ravel()


def nuaa(pipe: LivenessPipeline, root: Path) -> dict:
    import cv2

    consecutive: dict[str, list[float]] = defaultdict(list)
    embs: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
    sessions = nuaa_sessions(root)
    for i, session in enumerate(sessions):
        label = "live" if session.label == "real" else session.label
        d, e = distances(pipe, [cv2.imread(str(p)) for p in session.frames])
        consecutive[label] += d
        if e is not None:
            embs[(label, session.person)].append(e)
        print(f"\rNUAA {i + 1} of {len(sessions)} sessions", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    people = sorted({p for _, p in embs})
    stack = {k: np.concatenate(v) for k, v in embs.items()}
    swap = [pair_rates(stack["live", p], stack["printed", p]) for p in people if ("live", p) in stack and ("printed", p) in stack]
    other = [pair_rates(stack["live", p], stack["live", q]) for p in people for q in people
             if p < q and ("live", p) in stack and ("live", q) in stack]
    caught = {f"{t:.2f}": {"live_to_printed_same_person": float((np.concatenate(swap) > t).mean()),
                           "live_to_other_live_person": float((np.concatenate(other) > t).mean())} for t in THRESHOLDS}
    return {"consecutive": {k: stats(v) for k, v in consecutive.items()}, "replaced_share_over": caught,
            "people": len(people)}


def cut_in(weights) -> list[dict]:
    live = frames_of(ROOT / "examples" / "live_webcam.mov")
    photo = frames_of(ROOT / "examples" / "attack_printed.mp4")
    rows = []
    for restart in (None, TrackerConfig.restart_distance):
        with LivenessPipeline.from_config(PipelineConfig(weights=weights, tracker=TrackerConfig(restart_distance=restart))) as pipe:
            for k in range(3, 12):
                pipe.reset()
                d = decide(pipe, live[:k] + photo[:30], timeout_s=600)
                rows.append({"restart_distance": restart, "photo_from_frame": k, "label": d.label, "frames": d.frames,
                             "p_spoof": d.p_spoof})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, action="append", default=[], help="a real live video (repeatable)")
    ap.add_argument("--conditions-video", type=Path, action="append", default=[],
                    help="a real live video to degrade under every camera condition (repeatable)")
    ap.add_argument("--nuaa", type=Path, default=None)
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    report: dict = {"weights": str(a.weights or "bundled"), "videos": {}, "conditions": {}}
    with LivenessPipeline.from_config(PipelineConfig(weights=a.weights, tracker=TrackerConfig(restart_distance=None))) as pipe:
        for v in a.video:
            report["videos"][v.name] = stats(distances(pipe, frames_of(v))[0])
            print(v.name, report["videos"][v.name], file=sys.stderr)
        for v in a.conditions_video:
            clip = frames_of(v, 200)
            for name, cond in CONDITIONS.items():
                rng = np.random.default_rng(0)
                report["conditions"][f"{v.name} {name}"] = stats(distances(pipe, [apply(f, cond, rng) for f in clip])[0])
            print(v.name, "conditions done", file=sys.stderr)
        if a.nuaa is not None:
            report["nuaa"] = nuaa(pipe, a.nuaa)
    report["cut_in"] = cut_in(a.weights)
    text = json.dumps(report, indent=1)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
