"""Rendered held-out identities as whole videos, through the deployed loop (protocol (b) of the
model card through the loop, next to its per-sample figures).

For each identity of the test split (``--split``) that is not a NUAA person (the held-out rendered
identities: the live-video one and the stills), and for each class, ``--clips`` scenes are
rendered by :func:`rtliveness.training.synth.render.render_clip` (the renderer and camera model of
``rtliveness synth``, new random scenes: clip seeds are not sample seeds) and written as MJPG
videos; each is run through ``LivenessPipeline.from_config`` + ``process_source`` as
``rtliveness run`` does; the verdict is the main track's summary (the track with the most scored
windows). Clips are cached in ``--clips-dir`` (rendered once, reused for every model). With
``--photo-frame N`` one frame of each clip is scored as a photo instead (``rtliveness run
photo.png``: a still scene of one window).

    python scripts/eval_rendered_deployed.py --split-file runs/joint_loop3/split.json \\
        --clips-dir runs/rendered_clips [--weights W.pt] [--clips 3] [--frames 40] --json out.json

Report: per clip rows, and BPCER / APCER per type / ACER (95 % bootstrap over identities) for
the live-video identity, the still identities, and all of them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from rtliveness import DetectorConfig, LivenessPipeline, PipelineConfig, TrackerConfig
from rtliveness.errors import DataError, ConfigError
from rtliveness.training.attacks import CLASSES
from rtliveness.training.degrade import CONDITIONS
from rtliveness.training.data import person_of_sample
from rtliveness.training.teachers.minifasnet_constants import SPOOF_THRESHOLD

from eval_nuaa_deployed import add_keep_arg, add_low_light_arg, add_restart_arg, emit_report, run_video
from eval_video_conditions import degraded_copy
from screen_split import screen_side

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def read_frames(path: Path) -> list:
    """Every frame of a clip, decoded by the loop's own file source."""
    from rtliveness.runtime.sources import FileSource

    with FileSource(path) as src:
        return [f.image_bgr for f in src]


def summarise(rows: list[dict], video_identity: str) -> dict:
    """Rates and bootstrap CI for all clips and, when the live-video identity is among them, for
    it and the stills apart."""
    groups = {"all": rows}
    if any(r["person"] == video_identity for r in rows):
        groups = {"live_video": [r for r in rows if r["person"] == video_identity],
                  "stills": [r for r in rows if r["person"] != video_identity], "all": rows}
    return {k: {**rates(v), "acer_ci95": bootstrap(v)} for k, v in groups.items()}


def rendered_identities(split_file: Path, part: str = "test") -> list[str]:
    """The rendered (not NUAA) identities of one part of the split."""
    names = json.loads(split_file.read_text())[part]
    return sorted({p for p in (person_of_sample(s.split("/")[-1]) for s in names) if not p.startswith("nuaa")})


def render_all(idents: list[str], clips: int, frames: int, out: Path, face_size: tuple[float, float]) -> list[dict]:
    from rtliveness.config import DetectorConfig
    from rtliveness.runtime.detect import build_detector
    from rtliveness.training.synth.render import render_clip

    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.json"
    rows = json.loads(manifest.read_text()) if manifest.is_file() else None
    settings, sfile = {"clips": clips, "frames": frames, "face_size": list(face_size)}, out / "settings.json"
    if rows is not None and sfile.is_file() and json.loads(sfile.read_text()) != settings:
        raise SystemExit(f"error: {out} holds clips rendered with {sfile.read_text().strip()}; pass those settings "
                         "or another --clips-dir")
    todo = [(pid, kind, seed) for pid in idents for kind in CLASSES for seed in range(clips)] if rows is None else \
        [(r["person"], r["class"], r["seed"]) for r in rows if r["clip"] and r["class"] == "replay" and "screen_side" not in r]
    if not todo:
        return rows or []
    sfile.write_text(json.dumps(settings) + "\n")
    # a cache from before the screens were recorded gets its replays rendered again (the same
    # seed gives the same clip) to record them
    det = build_detector(DetectorConfig(min_face_size=40, factor=0.6), device="cpu")
    done = {}
    for i, (pid, kind, seed) in enumerate(todo):
        path = out / f"{kind}_{pid}_{seed}.avi"
        side = out / f"{kind}_{pid}_{seed}.json"
        try:
            render_clip(kind, ASSETS, path, n_frames=frames, seed=1000 + seed, detector=det, identity=pid,
                        face_size=face_size, fourcc="MJPG", params_json=side)
        except (DataError, ConfigError) as e:
            done[pid, kind, seed] = {"clip": None, "person": pid, "class": kind, "seed": seed, "error": str(e)}
            continue
        row = {"clip": path.name, "person": pid, "class": kind, "seed": seed}
        if kind == "replay":
            row["screen_side"] = screen_side(json.loads(side.read_text())["params"])
        done[pid, kind, seed] = row
        print(f"\rrendered {i + 1} of {len(todo)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    rows = [done[k] for k in todo] if rows is None else [done.get((r["person"], r["class"], r["seed"]), r) for r in rows]
    manifest.write_text(json.dumps(rows, indent=1))
    return rows


def rates(rows: list[dict]) -> dict:
    dec = [r for r in rows if r["label"] is not None]
    real = [r for r in dec if r["class"] == "real"]
    bpcer = float(np.mean([r["label"] == "spoof" for r in real])) if real else None
    apcer = {}
    for kind in CLASSES[1:]:
        att = [r for r in dec if r["class"] == kind]
        if att:
            apcer[kind] = float(np.mean([r["label"] != "spoof" for r in att]))
    worst = max(apcer.values()) if apcer else None
    acer = None if bpcer is None or worst is None else (bpcer + worst) / 2
    return {"bpcer": bpcer, "apcer": apcer, "apcer_max": worst, "acer": acer, "n_real": len(real),
            "n_attack": len(dec) - len(real), "undecided": len(rows) - len(dec)}


def bootstrap(rows: list[dict], n: int = 1000, seed: int = 0) -> list[float] | None:
    people = sorted({r["person"] for r in rows})
    if len(people) < 2:
        return None
    rng = np.random.default_rng(seed)
    by = {p: [r for r in rows if r["person"] == p] for p in people}
    acers = [a for a in (rates([r for p in rng.choice(people, len(people)) for r in by[p]])["acer"] for _ in range(n))
             if a is not None]
    return [float(np.percentile(acers, 2.5)), float(np.percentile(acers, 97.5))] if acers else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split-file", type=Path, required=True)
    ap.add_argument("--split", default="test", choices=("train", "dev", "test"), help="whose identities (dev: to choose a model)")
    ap.add_argument("--clips-dir", type=Path, required=True)
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--clips", type=int, default=3, help="scenes per identity and class")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--face-size", default="80,240", help="face width range in the 640x480 frame, px")
    ap.add_argument("--video-identity", default="talkinghead")
    ap.add_argument("--teacher", type=Path, default=None,
                    help="MiniFASNet folder: also score each clip with it (peer; its own detector, mean frame p_spoof >= 0.5 = spoof)")
    ap.add_argument("--replay-min-side", type=int, default=0,
                    help="score only the replay clips whose screen's longer side is at least this many screen px "
                         "(protocol (d) through the loop: large screens)")
    ap.add_argument("--photo-frame", type=int, default=None,
                    help="score frame N of each clip as a photo (a still scene of one window, as `rtliveness run "
                         "photo.png` does) instead of the whole clip")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--condition", choices=sorted(CONDITIONS), default=None,
                    help="degrade every frame of each clip this way first (clip i: seed i; clips themselves stay cached clean)")
    add_low_light_arg(ap)
    add_restart_arg(ap)
    add_keep_arg(ap)
    a = ap.parse_args()
    if a.photo_frame is not None and not 0 <= a.photo_frame < a.frames:
        ap.error(f"--photo-frame must be a frame of the clip, 0 to {a.frames - 1}, got {a.photo_frame}")
    lo, hi = (float(v) for v in a.face_size.split(","))
    clips = render_all(rendered_identities(a.split_file, a.split), a.clips, a.frames, a.clips_dir, (lo, hi))
    if a.replay_min_side:
        clips = [c for c in clips if c["class"] != "replay" or c.get("screen_side", 0) >= a.replay_min_side]
    rows, peer = [], []
    teacher = None
    if a.teacher is not None:
        from rtliveness.training.teachers.minifasnet import MiniFasTeacher

        teacher = MiniFasTeacher.from_dir(a.teacher)
    with LivenessPipeline.from_config(PipelineConfig(weights=a.weights, low_light_target=a.low_light_target,
                                                     detector=DetectorConfig(keep_confidence=a.keep_confidence),
                                                     tracker=TrackerConfig(restart_distance=a.restart_distance))) as pipe, \
            tempfile.TemporaryDirectory() as tmp:
        for i, c in enumerate(x for x in clips if x["clip"]):
            clip = a.clips_dir / c["clip"]
            if a.condition is not None:
                clip = Path(tmp) / f"{a.condition}.avi"
                degraded_copy(a.clips_dir / c["clip"], clip, a.condition, seed=i)
            if a.photo_frame is None:
                rep, main_track = run_video(pipe, clip)
                rows.append({**c, "frames": rep.frames, "label": None if main_track is None else main_track.label,
                             "p": None if main_track is None else main_track.mean_p_spoof})
                frames = read_frames(clip) if teacher is not None else None
            else:  # one frame of the clip as a photo, as `rtliveness run photo.png` scores it
                frames = read_frames(clip)[a.photo_frame:a.photo_frame + 1]
                photo = Path(tmp) / "photo.png"
                cv2.imwrite(str(photo), frames[0])
                _, main_track = run_video(pipe, photo)
                rows.append({**c, "frames": 1, "label": None if main_track is None else main_track.label,
                             "p": None if main_track is None else main_track.mean_p_spoof})
            if teacher is not None:
                ps = [q for q in teacher.score_frames_batch(frames) if q is not None]
                mean = float(np.mean(ps)) if ps else None
                peer.append({**c, "p": mean, "label": None if mean is None else ("spoof" if mean >= SPOOF_THRESHOLD else "live")})
            print(f"\r{i + 1} clips", end="", file=sys.stderr, flush=True)
        threshold = pipe.threshold
    print(file=sys.stderr)
    report = {"weights": str(a.weights or "bundled"), "split": a.split, "threshold": threshold, "clips": len(rows),
              "replay_min_side": a.replay_min_side, "photo_frame": a.photo_frame,
              "condition": a.condition, "low_light_target": a.low_light_target, "restart_distance": a.restart_distance,
              "keep_confidence": a.keep_confidence,
              "not_rendered": sum(1 for c in clips if not c["clip"]),
              "groups": summarise(rows, a.video_identity), "rows": rows}
    if teacher is not None:
        report["minifasnet"] = {"groups": summarise(peer, a.video_identity), "rows": peer}
    emit_report(report, a.json, omit=("rows", "minifasnet"))
    if teacher is not None:
        print(json.dumps({"minifasnet": report["minifasnet"]["groups"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
