"""NUAA held-out people as still photos, through the deployed loop (what ``rtliveness run
photo.jpg`` does with a photo of a live person or of a printed-photo attack).

Every ``--every``-th picture of every session of the held-out people is opened as a photo
(:func:`rtliveness.runtime.sources.open_source`: a still scene of one 5-frame window) and run
through ``LivenessPipeline.from_config`` + ``process_source`` (``eval_nuaa_deployed.run_video``); the photo's verdict is its main
track's label (the track with the most scored windows). One photo = one sample. Reports APCER
(printed), BPCER, ACER with 95 % bootstrap intervals over identities, and, with ``--teacher``, the
MiniFASNet peer on the same photos (a single-image model: p_spoof >= 0.5 = spoof).

    python scripts/eval_nuaa_stills.py NUAA_DIR --persons 0003,0007 [--weights W.pt] [--every 5] --json out.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from rtliveness import LivenessPipeline, PipelineConfig
from rtliveness.training.teachers.minifasnet_constants import SPOOF_THRESHOLD

from eval_nuaa_deployed import add_low_light_arg, bootstrap, emit_report, rates, run_video, sessions


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("nuaa", type=Path)
    ap.add_argument("--persons", required=True, help="comma-separated NUAA ids, e.g. 0003,0007")
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--every", type=int, default=5, help="every N-th picture of a session is a photo")
    ap.add_argument("--teacher", type=Path, default=None, help="MiniFASNet folder: also score each photo with it")
    ap.add_argument("--json", type=Path, default=None)
    add_low_light_arg(ap)
    a = ap.parse_args()
    teacher = None
    if a.teacher is not None:
        from rtliveness.training.teachers.minifasnet import MiniFasTeacher

        teacher = MiniFasTeacher.from_dir(a.teacher)
    rows = []
    with LivenessPipeline.from_config(PipelineConfig(weights=a.weights, low_light_target=a.low_light_target)) as pipe:
        for person, label, paths in sessions(a.nuaa, set(a.persons.split(","))):
            for photo in paths[::a.every]:
                _, main_track = run_video(pipe, photo)
                row = {"person": person, "label": label, "photo": photo.name,
                       "ours": None if main_track is None else main_track.label,
                       "p": None if main_track is None else main_track.mean_p_spoof}
                if teacher is not None:
                    row["teacher_p"] = teacher.score_frames_batch([cv2.imread(str(photo))])[0]
                rows.append(row)
                print(f"\r{len(rows)} photos", end="", file=sys.stderr, flush=True)
        threshold = pipe.threshold
    print(file=sys.stderr)
    report = {"persons": a.persons.split(","), "every": a.every, "weights": str(a.weights or "bundled"),
              "low_light_target": a.low_light_target,
              "threshold": threshold, "photos": len(rows),
              "ours": {**rates(rows, "ours"), **bootstrap(rows, "ours")},
              "undecided": sum(r["ours"] is None for r in rows), "rows": rows}
    if teacher is not None:
        report["minifasnet"] = {**rates(rows, "teacher_p", SPOOF_THRESHOLD), **bootstrap(rows, "teacher_p", SPOOF_THRESHOLD),
                                "undecided": sum(r["teacher_p"] is None for r in rows)}
    emit_report(report, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
