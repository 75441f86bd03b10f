"""Real photographs of live people, as they are, through the deployed loop — no rendering.

The still identities of ``rtliveness synth`` are faces in real photographs (``assets/``: group
photos, portraits). Here each photo of a split's identities (``--split``, from the split file's
sample names) is given to the loop exactly as ``rtliveness run photo.jpg`` does — a still scene of
one 5-frame window, ``LivenessPipeline.from_config`` + ``step`` — and each identity's face is the
scored face whose box overlaps its source box most (IoU >= 0.3; the source box is the one
``rtliveness synth`` found with the same detector settings). Every face is live, so this
measures BPCER only: live faces of real photographs called spoofs.

    python scripts/eval_raw_stills.py --split-file runs/joint_loop3/split.json --split test [--weights W.pt] --json out.json

``--photos DIR`` scores instead every face the loop finds in each photo of a folder of
photographs of live people (none of them synthesis sources): all of them are bona fide. A file
is a photo when ``rtliveness run`` takes it for one (told by its bytes) and is read as ``run``
reads it (EXIF orientation, the Pillow fallback); rows are ``<photo stem>#<k>``, the k-th face
of that photo.

    python scripts/eval_raw_stills.py --photos DIR [--weights W.pt] --json out.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from rtliveness import LivenessPipeline, PipelineConfig
from rtliveness.errors import SourceOpenError
from rtliveness.runtime.sources import STILL_FRAMES, StillSource, is_still_image
from rtliveness.runtime.track import box_iou

from eval_nuaa_deployed import emit_report
from eval_rendered_deployed import ASSETS, rendered_identities

MIN_IOU = 0.3


def still_identities(persons: set[str]) -> list:
    """The still identities (name, photo file, source box) among ``persons``, found as synth finds them."""
    from rtliveness.config import DetectorConfig
    from rtliveness.runtime.detect import build_detector
    from rtliveness.training.synth.assets import load_sources
    from rtliveness.training.synth.config import SynthConfig

    det = build_detector(DetectorConfig(min_face_size=40, factor=0.6), device="cpu")
    src = load_sources(ASSETS, SynthConfig(), det)
    return [i for i in src.identities if i.kind == "still" and i.pid in persons]


def photo_windows(pipe, image):
    """The loop's results for one photo, given as ``rtliveness run photo.jpg`` gives it."""
    pipe.reset()
    for _ in range(STILL_FRAMES):
        res = pipe.step(image)
    return res


def read_photo(path: Path):
    """The photo as ``rtliveness run`` reads it (raises SourceOpenError with one line)."""
    src = StillSource(path)
    try:
        return next(iter(src)).image_bgr
    finally:
        src.close()


def photo_faces(pipe, photo: Path):
    """(the photo as ``run`` reads it, the loop's faces in it left to right): ``<stem>#<k>`` is face k."""
    image = read_photo(photo)
    return image, sorted(photo_windows(pipe, image).faces, key=lambda v: (v.box.x1, v.box.y1))


def photo_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that ``rtliveness run`` takes for photos (told by their bytes), sorted."""
    return sorted(p for p in folder.iterdir() if p.is_file() and is_still_image(p))


def face_row(photo: Path, k: int, v) -> dict:
    """The row of face ``k`` of ``photo`` (``<stem>#<k>``); a face the loop leaves pending has label None."""
    scored = v.label != "pending"
    return {"person": f"{photo.stem}#{k}", "photo": photo.name, "face_px": round(min(v.box.width, v.box.height)),
            "label": v.label if scored else None, "p": round(v.p_spoof, 6) if scored else None}


def folder_rows(pipe, folder: Path) -> list[dict]:
    """One row per face the loop finds in each photo of ``folder`` (every face live)."""
    return [face_row(photo, k, v) for photo in photo_files(folder) for k, v in enumerate(photo_faces(pipe, photo)[1])]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split-file", type=Path, default=None)
    ap.add_argument("--photos", type=Path, default=None, help="a folder of photographs of live people")
    ap.add_argument("--split", default=None, choices=("train", "dev", "test"), help="with --split-file (default test)")
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    if (a.split_file is None) == (a.photos is None):
        print("give --split-file or --photos (one of them)", file=sys.stderr)
        return 2
    if a.photos is not None:
        if a.split is not None:
            print("--split goes with --split-file, not with --photos", file=sys.stderr)
            return 2
        if not a.photos.is_dir() or not photo_files(a.photos):
            print(f"no photos in {a.photos}: give a folder of photographs (JPEG, PNG, ...)", file=sys.stderr)
            return 2
        try:
            with LivenessPipeline.from_config(PipelineConfig(weights=a.weights)) as pipe:
                return _report(folder_rows(pipe, a.photos), a, str(a.photos), pipe.threshold)
        except SourceOpenError as e:
            print(e, file=sys.stderr)
            return 2
    a.split = a.split or "test"
    idents = still_identities(set(rendered_identities(a.split_file, a.split)))
    if not idents:
        print(f"no still identity of {a.split_file} ({a.split}) found in {ASSETS}", file=sys.stderr)
        return 2
    rows = []
    with LivenessPipeline.from_config(PipelineConfig(weights=a.weights)) as pipe:
        for photo in sorted({i.file for i in idents}):
            res = photo_windows(pipe, read_photo(ASSETS / photo))
            for ident in (i for i in idents if i.file == photo):
                overlap, best = max(((box_iou(v.box, ident.box), v) for v in res.faces), key=lambda x: x[0], default=(0.0, None))
                hit = overlap >= MIN_IOU and best.label != "pending"
                rows.append({"person": ident.pid, "photo": photo, "face_px": round(min(ident.box.width, ident.box.height)),
                             "label": best.label if hit else None, "p": round(best.p_spoof, 6) if hit else None})
        return _report(rows, a, a.split, pipe.threshold)


def _report(rows: list[dict], a, split: str, threshold: float) -> int:
    scored = [r for r in rows if r["label"] is not None]
    report = {"weights": str(a.weights or "bundled"), "split": split, "threshold": threshold, "faces": len(rows),
              "scored": len(scored), "rejected": sum(r["label"] == "spoof" for r in scored),
              "bpcer": float(np.mean([r["label"] == "spoof" for r in scored])) if scored else None, "rows": rows}
    emit_report(report, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
