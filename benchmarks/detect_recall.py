"""Face recall and detection cost of detector settings on real videos, side by side.

For every video, each setting runs the whole video through ``LivenessPipeline.from_config``
(bundled weights, the shipped configuration with the setting's ``DetectorConfig`` overrides) and
counts the frames on which a face is reported (detected or carried by the tracker), the faces
and track ids reported, the detector runs (whole-frame scans, region scans and the regions they
scanned), and the detector's seconds per frame. The default comparison is the region scan (the shipped
``full_every=4``) against whole-frame scans only (``full_every=1``, the previous default).

    python benchmarks/detect_recall.py VIDEO [VIDEO ...] --json benchmarks/detect_recall.json \
        [--nuaa PATH/TO/nuaa --nuaa-sessions 40]

``--nuaa`` adds NUAA sessions (raw webcam frames, read in order as one video each; research-use
data, read from where you keep it, never copied into the project).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

import cv2

from rtliveness.bench.runner import cpu_model
from rtliveness.config import DetectorConfig, PipelineConfig
from rtliveness.runtime.pipeline import LivenessPipeline
from rtliveness.training.nuaa import nuaa_sessions as read_nuaa

SETTINGS = {"whole-frame": {"full_every": 1}, "region (shipped)": {}}


def video_frames(path: Path):
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


def nuaa_sessions(root: Path, limit: int):
    """(name, frames) of ``limit`` NUAA sessions spread over all of them (0: every session)."""
    found = read_nuaa(root)
    step = max(1, len(found) // limit) if limit else 1
    for s in found[::step][:limit or None]:
        yield "nuaa:" + s.name, [cv2.imread(str(p)) for p in s.frames]


def cpu_name() -> str:
    return f"{cpu_model()} ({os.cpu_count()} vCPU)"


def count_scans(pipe: LivenessPipeline) -> dict:
    """Count ``pipe``'s detector runs, in place: whole-frame scans (the second look for small
    faces is part of one), region scans, and the regions those scanned."""
    scan, calls = pipe.scan, {"whole": 0, "region": 0, "regions": 0}
    whole, regions = scan._whole, scan._regions

    def counted_whole(detector, image):
        calls["whole"] += 1
        return whole(detector, image)

    def counted_regions(detector, image, rects, min_face=None):
        calls["region"] += 1
        calls["regions"] += len(rects)
        return regions(detector, image, rects, min_face)

    scan._whole, scan._regions = counted_whole, counted_regions
    return calls


def measure(frames, overrides: dict) -> dict:
    cfg = PipelineConfig(detector=replace(DetectorConfig(), **overrides), verify_checksum=False)
    with LivenessPipeline.from_config(cfg) as pipe:
        scans = count_scans(pipe)
        found = n = faces = 0
        ids: set[int] = set()
        t0 = time.perf_counter()
        for f in frames:
            r = pipe.step(f)
            n += 1
            found += bool(r.faces)
            faces += len(r.faces)
            ids.update(f.track_id for f in r.faces)
        wall = time.perf_counter() - t0
        det = pipe.timings.seconds["detect"]
    return {"frames": n, "with_face": found, "faces": faces, "tracks": len(ids), "whole_scans": scans["whole"],
            "region_scans": scans["region"], "regions_scanned": scans["regions"], "detect_ms_per_frame": 1000 * det / max(1, n),
            "ms_per_frame": 1000 * wall / max(1, n)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="*", type=Path)
    ap.add_argument("--nuaa", type=Path)
    ap.add_argument("--nuaa-sessions", type=int, default=40)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    clips = [(v.name, list(video_frames(v))) for v in a.videos]
    if a.nuaa is not None:
        clips += list(nuaa_sessions(a.nuaa, a.nuaa_sessions))
    rows = []
    for name, frames in clips:
        row = {"video": name, "frames": len(frames)}
        for label, overrides in SETTINGS.items():
            row[label] = measure(frames, overrides)
        rows.append(row)
        print(name, {k: (v["with_face"], round(v["detect_ms_per_frame"], 1)) for k, v in row.items() if isinstance(v, dict)},
              flush=True)
    total = {}
    for label in SETTINGS:
        total[label] = {
            "frames": sum(r[label]["frames"] for r in rows),
            "with_face": sum(r[label]["with_face"] for r in rows),
            **{k: sum(r[label][k] for r in rows) for k in ("faces", "tracks", "whole_scans", "region_scans", "regions_scanned")},
            "detect_ms_per_frame_median": statistics.median(r[label]["detect_ms_per_frame"] for r in rows),
            "ms_per_frame_median": statistics.median(r[label]["ms_per_frame"] for r in rows),
            "videos_with_fewer_face_frames_than_whole_frame": sum(
                r[label]["with_face"] < r["whole-frame"]["with_face"] for r in rows),
        }
    report = {"cpu": cpu_name(), "settings": SETTINGS, "total": total, "videos": rows}
    print(json.dumps(total, indent=1))
    if a.json:
        a.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
