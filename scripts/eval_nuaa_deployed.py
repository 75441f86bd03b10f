"""NUAA person-disjoint protocol through the deployed loop.

Every session of the held-out people is written as a video (its consecutive pictures, 640x480)
and run through ``LivenessPipeline.from_config`` + ``process_source`` exactly as
``rtliveness run`` does (MTCNN cadence, tracker boxes, the default backend). A session's verdict
is its main track's summary label (the track with the most scored windows); the session is the
sample. Reports APCER (printed), BPCER, ACER with 95 % bootstrap intervals over identities, and,
with ``--teacher``, the MiniFASNet peer on the same sessions (mean frame p_spoof, its own
detector, p >= 0.5 = spoof).

    python scripts/eval_nuaa_deployed.py NUAA_DIR --persons 0001,0002 --weights W.pt --json out.json

``--condition dim`` (any name of ``rtliveness.training.degrade.CONDITIONS``) degrades every whole
frame before the loop sees it — the camera in a dim room, say — so detection, tracking and
scoring all run on the degraded video.
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
from rtliveness.runtime.app import process_source
from rtliveness.config import LOW_LIGHT_TARGET, check_low_light_target
from rtliveness.errors import ConfigError
from rtliveness.runtime.sources import open_source
from rtliveness.training.degrade import CONDITIONS, apply
from rtliveness.training.nuaa import nuaa_sessions
from rtliveness.training.teachers.minifasnet_constants import SPOOF_THRESHOLD


def sessions(root: Path, persons: set[str]) -> list[tuple[str, str, list[Path]]]:
    """(person, label, frames) of the NUAA sessions of ``persons`` with 8 frames or more."""
    return [(s.person, s.label, list(s.frames)) for s in nuaa_sessions(root, persons) if len(s.frames) >= 8]


def write_video(paths: list[Path], out: Path, fps: float = 7.0, condition: str | None = None, seed: int = 0) -> list[np.ndarray]:
    """Writes the session as a video; returns the frames written (degraded when ``condition``)."""
    first = cv2.imread(str(paths[0]))
    h, w = first.shape[:2]
    rng = np.random.default_rng(seed)
    vw = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    frames = []
    for p in paths:
        img = cv2.imread(str(p))
        img = img if img.shape[:2] == (h, w) else cv2.resize(img, (w, h))
        if condition is not None:
            img = apply(img, CONDITIONS[condition], rng)
        vw.write(img)
        frames.append(img)
    vw.release()
    return frames


def run_video(pipe: LivenessPipeline, video: Path, max_frames: int | None = None):
    """``video`` (or a photo: a still scene of one window, as ``rtliveness run`` opens it) through
    the deployed loop from a fresh state, its first ``max_frames`` frames when given: (the run's
    report, its main track — the track with the most scored windows — or None when no window was
    scored)."""
    pipe.reset()
    earlier = {t.track_id for t in pipe.track_summaries()}  # summaries outlive reset(): skip them
    with open_source(str(video)) as src:
        rep = process_source(pipe, src, max_frames=max_frames)
    tracks = [t for t in rep.tracks if t.windows > 0 and t.track_id not in earlier]
    return rep, (max(tracks, key=lambda t: t.windows) if tracks else None)


def positive_int(text: str) -> int:
    """argparse type for counts and strides: an integer of 1 or more."""
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {n}")
    return n


def add_low_light_arg(ap: argparse.ArgumentParser) -> None:
    """``--low-light-target``: the loop's crop gain (:mod:`rtliveness.runtime.exposure`)."""
    def target(text: str) -> float:
        try:
            return check_low_light_target(text)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    ap.add_argument("--low-light-target", type=target, default=LOW_LIGHT_TARGET,
                    help=f"brighten face crops darker than this mean grey up to it (0 = off; default {LOW_LIGHT_TARGET})")


def add_restart_arg(ap: argparse.ArgumentParser) -> None:
    """``--restart-distance``: the tracker's window restart on a jump of the crop embedding
    (:class:`rtliveness.config.TrackerConfig`); ``off`` measures the loop without it."""
    def distance(text: str) -> float | None:
        try:
            return None if text == "off" else TrackerConfig(restart_distance=float(text)).restart_distance
        except (ConfigError, ValueError) as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    ap.add_argument("--restart-distance", type=distance, default=TrackerConfig.restart_distance,
                    help=f"restart a track's window past this embedding jump ('off': never; default {TrackerConfig.restart_distance})")


def add_keep_arg(ap: argparse.ArgumentParser) -> None:
    """``--keep-confidence``: the detector confidence that keeps a tracked face
    (:class:`rtliveness.config.DetectorConfig`); ``off`` measures the loop without it."""
    ap.add_argument("--keep-confidence", type=lambda t: None if t == "off" else float(t),
                    default=DetectorConfig.keep_confidence,
                    help=f"detector confidence a tracked face is kept at ('off': every face needs min_confidence; "
                         f"default {DetectorConfig.keep_confidence})")


def emit_report(report: dict, path: Path | None, omit: tuple[str, ...] = ("rows",)) -> None:
    """Write the whole report to ``path`` (when given) and print it without the ``omit`` keys."""
    if path:
        path.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k not in omit}, indent=1))


def rates(rows: list[dict], key: str, thr: float | None = None) -> dict:
    def spoof(r):
        return r[key] == "spoof" if thr is None else (r[key] is not None and r[key] >= thr)
    real = [r for r in rows if r["label"] == "real" and r[key] is not None]
    att = [r for r in rows if r["label"] != "real" and r[key] is not None]
    bpcer = float(np.mean([spoof(r) for r in real])) if real else None
    apcer = float(np.mean([not spoof(r) for r in att])) if att else None
    acer = None if bpcer is None or apcer is None else (bpcer + apcer) / 2
    return {"bpcer": bpcer, "apcer_printed": apcer, "acer": acer, "n_real": len(real), "n_attack": len(att)}


def bootstrap(rows: list[dict], key: str, thr: float | None = None, n: int = 1000, seed: int = 0) -> dict:
    people = sorted({r["person"] for r in rows})
    rng = np.random.default_rng(seed)
    acers = []
    for _ in range(n):
        pick = rng.choice(people, len(people), replace=True)
        sample = [r for p in pick for r in rows if r["person"] == p]
        a = rates(sample, key, thr)["acer"]
        if a is not None:
            acers.append(a)
    return {"acer_ci95": [float(np.percentile(acers, 2.5)), float(np.percentile(acers, 97.5))] if acers else None}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("nuaa", type=Path)
    ap.add_argument("--persons", required=True, help="comma-separated NUAA ids, e.g. 0001,0007")
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--teacher", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--backend", default="auto", help="auto | torch | onnx | onnx-int8 | torch-bf16 | openvino-bf16")
    ap.add_argument("--condition", choices=sorted(CONDITIONS), default=None, help="degrade every frame this way first")
    ap.add_argument("--steady-every", type=int, default=DetectorConfig.steady_every,
                    help="the loop's steady detection cadence (default: the shipped one; 3 = a fixed cadence)")
    ap.add_argument("--detect-every", type=int, default=DetectorConfig.every_n,
                    help="the loop's detection cadence (default: the shipped one; 1 = every frame)")
    add_low_light_arg(ap)
    add_restart_arg(ap)
    add_keep_arg(ap)
    a = ap.parse_args()
    persons = set(a.persons.split(","))
    rows = []
    teacher = None
    if a.teacher is not None:
        from rtliveness.training.teachers.minifasnet import MiniFasTeacher

        teacher = MiniFasTeacher.from_dir(a.teacher)
    with tempfile.TemporaryDirectory() as tmp, LivenessPipeline.from_config(
            PipelineConfig(weights=a.weights, backend=a.backend, detector=DetectorConfig(steady_every=a.steady_every, every_n=a.detect_every,
                                                                                       keep_confidence=a.keep_confidence),
                           low_light_target=a.low_light_target,
                           tracker=TrackerConfig(restart_distance=a.restart_distance))) as pipe:
        for i, (person, label, paths) in enumerate(sessions(a.nuaa, persons)):
            video = Path(tmp) / f"s{i}.avi"
            frames = write_video(paths, video, condition=a.condition, seed=i)
            rep, main_track = run_video(pipe, video)
            row = {"person": person, "label": label, "frames": rep.frames,
                   "tracks": len(rep.tracks), "scored_tracks": sum(t.windows > 0 for t in rep.tracks),
                   "ours": None if main_track is None else main_track.label,
                   "ours_p": None if main_track is None else main_track.mean_p_spoof}
            if teacher is not None:
                ps = [p for p in teacher.score_frames_batch(frames) if p is not None]
                row["teacher_p"] = float(np.mean(ps)) if ps else None
            rows.append(row)
            print(f"\r{i + 1} sessions", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    report = {"persons": sorted(persons), "condition": a.condition, "steady_every": a.steady_every, "detect_every": a.detect_every, "low_light_target": a.low_light_target, "restart_distance": a.restart_distance,
              "keep_confidence": a.keep_confidence, "sessions": len(rows), "threshold": pipe.threshold,
              "ours": {**rates(rows, "ours"), **bootstrap(rows, "ours")},
              "undecided": sum(r["ours"] is None for r in rows), "rows": rows}
    if teacher is not None:
        report["minifasnet"] = {**rates(rows, "teacher_p", SPOOF_THRESHOLD), **bootstrap(rows, "teacher_p", SPOOF_THRESHOLD)}
    emit_report(report, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
