"""Real live captures — videos and photographs of live people — through the deployed loop.

Everything in the folders is bona fide, so this measures BPCER only. ``--videos DIR``: each video
(a file of the folder with a video suffix: ``VIDEO_SUFFIXES``) goes through ``LivenessPipeline.from_config`` +
``process_source`` as ``rtliveness run`` does, first ``--max-frames`` frames; its verdict is the
main track's summary label (the track with the most scored windows). ``--photos DIR``: every face
the loop finds in each photo, as ``eval_raw_stills.py --photos`` scores them (``<stem>#<k>``).

``--teacher DIR`` adds the MiniFASNet peer on the same items: a video's mean ``p_spoof`` over
every ``--teacher-every``-th frame (its own detector; None when it finds no face in any), a photo
face's ``p_spoof`` at the loop's box (mapped to the teacher's box rule); ``p >= 0.5`` is spoof.
A missing or corrupt weights file or teacher folder is one line on stderr and exit 2.

    python scripts/eval_real_live.py --videos runs/real_live/videos --photos runs/real_live/photos \
        [--weights W.pt] [--teacher ../shared/teachers/minifasnet] --json out.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from rtliveness import LivenessPipeline, PipelineConfig
from rtliveness.errors import RtlivenessError
from rtliveness.training.teachers.minifasnet_constants import SPOOF_THRESHOLD
from rtliveness.training.teachers.minifasnet_crop import teacher_box_from_mtcnn

from eval_nuaa_deployed import add_low_light_arg, emit_report, positive_int, run_video
from eval_raw_stills import face_row, photo_faces, photo_files

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}


def video_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def teacher_on_video(teacher, video: Path, max_frames: int, every: int) -> float | None:
    """The teacher's mean ``p_spoof`` over every ``every``-th of the first ``max_frames`` frames."""
    cap = cv2.VideoCapture(str(video))
    frames, i = [], 0
    while i < max_frames:
        ok, frame = cap.read()
        if not ok:
            break
        if i % every == 0:
            frames.append(frame)
        i += 1
    cap.release()
    ps = [p for p in teacher.score_frames_batch(frames) if p is not None] if frames else []
    return float(np.mean(ps)) if ps else None


def video_rows(pipe, folder: Path, max_frames: int, teacher=None, every: int = 5) -> list[dict]:
    rows = []
    for video in video_files(folder):
        rep, main = run_video(pipe, video, max_frames)
        row = {"item": video.name, "kind": "video", "frames": rep.frames,
               "windows": 0 if main is None else main.windows,
               "label": None if main is None else main.label,
               "p": None if main is None else round(main.mean_p_spoof, 6)}
        if teacher is not None:
            tp = teacher_on_video(teacher, video, max_frames, every)
            row["teacher_p"] = None if tp is None else round(tp, 6)
        rows.append(row)
        print(f"{video.name}: {row['label']} ({row['p']})", file=sys.stderr, flush=True)
    return rows


def photo_rows(pipe, folder: Path, teacher=None) -> list[dict]:
    rows = []
    for photo in photo_files(folder):
        image, faces = photo_faces(pipe, photo)
        for k, v in enumerate(faces):
            base = face_row(photo, k, v)
            row = {"item": base.pop("person"), "kind": "photo", **base}
            if teacher is not None:
                tp = teacher.score_frame(image, teacher_box_from_mtcnn((v.box.x1, v.box.y1, v.box.x2, v.box.y2)))
                row["teacher_p"] = None if tp is None else round(tp, 6)
            rows.append(row)
    return rows


def summarise(rows: list[dict], key: str = "label", threshold: float | None = None, n_boot: int = 1000) -> dict:
    """Per kind: items, scored, rejected, BPCER and its 95 % bootstrap interval over videos, or over
    photos (a photo's faces resampled together). ``threshold`` thresholds ``key`` as a p_spoof."""
    out = {}
    for kind in ("video", "photo"):
        sel = [r for r in rows if r["kind"] == kind and r[key] is not None]
        if not any(r["kind"] == kind for r in rows):
            continue
        flags = [(r.get("photo", r["item"]), (r[key] == "spoof") if threshold is None else (r[key] >= threshold)) for r in sel]
        rejected = sum(f for _, f in flags)
        out[kind] = {"items": sum(r["kind"] == kind for r in rows), "scored": len(sel), "rejected": rejected,
                     "bpcer": rejected / len(sel) if sel else None, "bpcer_ci95": _interval(flags, n_boot)}
    return out


def _interval(flags: list[tuple[str, bool]], n: int, seed: int = 0) -> list[float] | None:
    groups: dict[str, list[bool]] = {}
    for g, f in flags:
        groups.setdefault(g, []).append(f)
    if not groups:
        return None
    keys = sorted(groups)
    rng = np.random.default_rng(seed)
    rates = []
    for _ in range(n):
        pick = [groups[keys[i]] for i in rng.integers(0, len(keys), len(keys))]
        rates.append(sum(map(sum, pick)) / sum(map(len, pick)))
    return [round(float(np.percentile(rates, 2.5)), 4), round(float(np.percentile(rates, 97.5)), 4)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=Path, default=None, help="a folder of videos of live people")
    ap.add_argument("--photos", type=Path, default=None, help="a folder of photographs of live people")
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--teacher", type=Path, default=None, help="the MiniFASNet folder, for the peer figures")
    ap.add_argument("--teacher-every", type=positive_int, default=5)
    ap.add_argument("--max-frames", type=positive_int, default=300)
    ap.add_argument("--json", type=Path, default=None)
    add_low_light_arg(ap)
    a = ap.parse_args()
    if a.videos is None and a.photos is None:
        print("give --videos DIR, --photos DIR or both", file=sys.stderr)
        return 2
    if a.videos is not None and (not a.videos.is_dir() or not video_files(a.videos)):
        print(f"no videos in {a.videos}: give a folder of video files ({', '.join(sorted(VIDEO_SUFFIXES))})", file=sys.stderr)
        return 2
    if a.photos is not None and (not a.photos.is_dir() or not photo_files(a.photos)):
        print(f"no photos in {a.photos}: give a folder of photographs (JPEG, PNG, ...)", file=sys.stderr)
        return 2
    rows: list[dict] = []
    try:
        teacher = None
        if a.teacher is not None:
            from rtliveness.training.teachers.minifasnet import MiniFasTeacher

            teacher = MiniFasTeacher.from_dir(a.teacher)
        with LivenessPipeline.from_config(PipelineConfig(weights=a.weights, low_light_target=a.low_light_target)) as pipe:
            if a.videos is not None:
                rows += video_rows(pipe, a.videos, a.max_frames, teacher, a.teacher_every)
            if a.photos is not None:
                rows += photo_rows(pipe, a.photos, teacher)
            threshold = pipe.threshold
    except RtlivenessError as e:
        print(e, file=sys.stderr)
        return 2
    report = {"weights": str(a.weights or "bundled"), "threshold": threshold, "max_frames": a.max_frames, "low_light_target": a.low_light_target,
              "videos": str(a.videos) if a.videos else None, "photos": str(a.photos) if a.photos else None,
              "ours": summarise(rows), "rows": rows}
    if teacher is not None:
        report["minifasnet"] = summarise(rows, "teacher_p", SPOOF_THRESHOLD)
    emit_report(report, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
