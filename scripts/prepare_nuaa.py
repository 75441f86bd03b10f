"""NUAA Photograph Imposter Database (raw webcam frames) → 5-crop samples in the origin layout.

Each session (``ID_glasses_position_session``) holds consecutive pictures; windows of 5
consecutive pictures of a session become one sample, cropped with the serving detector (MTCNN),
tracker and crop (``rtliveness.runtime``); ``--boxes loop`` cuts them as ``rtliveness prepare``
does for videos (its default).
ClientRaw → ``real``, ImposterRaw → ``printed``. Person ids are ``nuaa<ID>`` so splits stay
person-disjoint. NUAA is for research use only (see its README): never commit the output.

    python scripts/prepare_nuaa.py PATH/TO/nuaa OUT_DIR [--step 3] [--boxes loop]

``--boxes detect`` (default) detects the face on every picture and follows it; ``--boxes loop``
takes each picture's box from the deployed loop instead (``LivenessPipeline`` with the shipped
detector cadence: a detector run every few frames, tracker-carried boxes between them), so the
crops of a window move relative to each other as they do in deployment.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import torch

from rtliveness.config import DetectorConfig
from rtliveness.runtime.crop import crop_face
from rtliveness.runtime.detect import build_detector
from rtliveness.runtime.track import follow_face
from rtliveness.training.data import DATA_META, sample_name
from rtliveness.training.nuaa import nuaa_sessions
from rtliveness.types import FaceBox


def detect(det, image, scale: float):
    if scale >= 1.0:
        return det.detect(image)
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    out = []
    for b in det.detect(small):
        big = FaceBox(b.x1 / scale, b.y1 / scale, b.x2 / scale, b.y2 / scale, b.score).clipped(w, h)
        if big is not None:
            out.append(big)
    return tuple(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("nuaa", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--step", type=int, default=3, help="pictures between the starts of consecutive samples")
    ap.add_argument("--crop-scale", type=float, default=2.7)
    ap.add_argument("--crop-size", type=int, default=224)
    ap.add_argument("--detect-scale", type=float, default=0.5,
                    help="--boxes detect: detect on a copy scaled by this (NUAA faces are large); crops come from "
                         "the full frame (--boxes loop detects as run does)")
    ap.add_argument("--boxes", choices=("detect", "loop"), default="detect",
                    help="detect: MTCNN on every picture; loop: the boxes of the deployed loop (see above)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    det = build_detector(DetectorConfig(kind="mtcnn"), device="cpu")
    if a.boxes == "loop":
        from rtliveness.training.prepare import LoopBoxes, loop_window

        loop_boxes = LoopBoxes.for_detector(det, DetectorConfig(kind="mtcnn"))  # run's cadence, whole frames
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / DATA_META).write_text(json.dumps({"crop_scale": a.crop_scale, "crop_size": a.crop_size,
                                               "generator": "scripts/prepare_nuaa.py"}, indent=2))
    counts = {"real": 0, "printed": 0, "dropped": 0}
    k_by_person: dict[tuple[str, str], int] = defaultdict(int)  # (label, person) -> samples written
    for session in nuaa_sessions(a.nuaa):
        label, person, paths = session.label, f"nuaa{session.person}", session.frames
        images = [cv2.imread(str(p)) for p in paths]
        if a.boxes == "loop":
            loop_boxes.reset()
            found = [loop_boxes(im) for im in images]
        else:
            boxes = [detect(det, im, a.detect_scale) for im in images]
        for s in range(0, len(paths) - 4, a.step):
            track = follow_face(boxes[s:s + 5]) if a.boxes == "detect" else loop_window(found[s:s + 5])
            if track is None:
                counts["dropped"] += 1
                continue
            d = a.out / label / sample_name(label, person, k_by_person[label, person])
            k_by_person[label, person] += 1
            d.mkdir(parents=True, exist_ok=True)
            for j, (im, b) in enumerate(zip(images[s:s + 5], track)):
                cv2.imwrite(str(d / f"{j}.png"), crop_face(im, b, a.crop_scale, a.crop_size))
            counts[label] += 1
        print(f"\r{session.folder} {session.key} {counts}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
