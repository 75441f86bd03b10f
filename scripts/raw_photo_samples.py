"""Raw-photo windows: the training identities' real photographs as the loop sees a photo, next to
as many static attack windows, added to an origin-layout dataset for ``rtliveness train``.

The rendered still identities (``rtliveness synth``) are faces in real photographs (``assets/``);
a model that only ever saw them through the rendered camera chain can take a clean photograph of
a live person for an attack (``eval_raw_stills.py``). For each still identity of the split's
``train`` part, ``--per-face`` bona fide samples are written: the photo at a random scale (the
face stays at least ``MIN_FACE`` px), flipped or not, re-encoded as JPEG or not, given to the
deployed loop as ``rtliveness run photo.jpg`` gives it (``LivenessPipeline.step`` on 5 identical
frames), cropped at the box the loop gives the identity's face — 5 identical crops. So that
neither a static window nor a clean photograph becomes a label cue, as many attack samples are
written too, split evenly over the attack families: a random training attack sample's random
frame, five times (fewer where a family has fewer training samples; the printed counts say).

    python scripts/raw_photo_samples.py BASE --split-file SPLIT.json --out OUT [--per-face 6] [--seed 0]

OUT gets links to every sample of BASE, the new samples (numbered from ``FIRST_INDEX``, each under
its identity's person id), BASE's ``rtliveness_data.json``, and ``OUT/split.json``: SPLIT.json
with the new samples in ``train``. Dev and test identities are never used, nor is any photo that
holds one of their faces: a crop around a training face in a group photo can hold a held-out
neighbour's face (such photos are skipped and counted).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

from rtliveness import LivenessPipeline, PipelineConfig
from rtliveness.runtime.crop import crop_face
from rtliveness.runtime.track import box_iou
from rtliveness.training.attacks import CLASSES
from rtliveness.training.data import DATA_META, WINDOW, sample_name, scan_dataset
from rtliveness.types import FaceBox

from eval_raw_stills import MIN_IOU, photo_windows, read_photo, still_identities
from eval_rendered_deployed import ASSETS, rendered_identities

#: a raw photo is never shrunk below this face size (px, the box's shorter side)
MIN_FACE = 48
#: new samples are numbered from here, clear of the base dataset's numbers
FIRST_INDEX = 90000
SCALES = (0.4, 1.0)
JPEG_P, JPEG_QUALITY = 0.5, (50, 95)


def photo_variant(image: np.ndarray, box: FaceBox, rng: np.random.Generator) -> tuple[np.ndarray, FaceBox]:
    """The photo at a random scale (face >= MIN_FACE), maybe flipped and re-encoded, and where the
    identity's box lands in it."""
    face = min(box.width, box.height)
    s = float(rng.uniform(max(SCALES[0], min(1.0, MIN_FACE / face)), SCALES[1]))
    h, w = image.shape[:2]
    out = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) if s < 1 else image.copy()
    b = FaceBox(box.x1 * s, box.y1 * s, box.x2 * s, box.y2 * s, box.score)
    if rng.random() < 0.5:
        out = np.ascontiguousarray(out[:, ::-1])
        ow = out.shape[1]
        b = FaceBox(ow - b.x2, b.y1, ow - b.x1, b.y2, b.score)
    if rng.random() < JPEG_P:
        q = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
        out = cv2.imdecode(cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_COLOR)
    return out, b


def write_sample(folder: Path, crop: np.ndarray) -> None:
    if folder.exists():
        raise SystemExit(f"error: {folder} exists in the base dataset: its sample numbers reach {FIRST_INDEX}")
    folder.mkdir(parents=True)
    for j in range(WINDOW):
        cv2.imwrite(str(folder / f"{j}.png"), crop)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", type=Path)
    ap.add_argument("--split-file", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--per-face", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if not (a.base / DATA_META).is_file():
        print(f"{a.base} has no {DATA_META}: give a dataset in the origin layout", file=sys.stderr)
        return 2
    meta = json.loads((a.base / DATA_META).read_text())
    split = json.loads(a.split_file.read_text())
    if a.out.exists():
        print(f"{a.out} exists; give a new --out", file=sys.stderr)
        return 2
    scale, size = float(meta["crop_scale"]), int(meta.get("crop_size", 224))
    rng = np.random.default_rng(a.seed)
    train = set(rendered_identities(a.split_file, "train"))
    held_out = set(rendered_identities(a.split_file, "dev")) | set(rendered_identities(a.split_file, "test"))
    if train & held_out:
        print(f"{a.split_file}: identities in train and in dev/test: {', '.join(sorted(train & held_out))}", file=sys.stderr)
        return 2
    found = still_identities(train | held_out)
    held_photos = {i.file for i in found if i.pid in held_out}
    idents = [i for i in found if i.pid in train and i.file not in held_photos]
    skipped = sorted({i.file for i in found if i.pid in train and i.file in held_photos})
    if not idents:
        print(f"no still identity among the train part of {a.split_file} in a photo without dev or test faces", file=sys.stderr)
        return 2
    base = {s.name: s for s in scan_dataset(a.base, check_images=False).samples}
    for c in CLASSES:
        (a.out / c).mkdir(parents=True)
    for name in base:
        os.symlink((a.base / name).resolve(), a.out / name)
    shutil.copy(a.base / DATA_META, a.out / DATA_META)
    added, k = [], FIRST_INDEX
    photos = {}
    with LivenessPipeline.from_config(PipelineConfig()) as pipe:
        for ident in idents:
            if ident.file not in photos:
                photos[ident.file] = read_photo(ASSETS / ident.file)
            image = photos[ident.file]
            for _ in range(a.per_face):
                var, box = photo_variant(image, ident.box, rng)
                faces = photo_windows(pipe, var).faces
                overlap, best = max(((box_iou(v.box, box), v) for v in faces), key=lambda x: x[0], default=(0.0, None))
                if overlap < MIN_IOU:
                    continue
                name = sample_name("real", ident.pid, k)
                write_sample(a.out / "real" / name, crop_face(var, best.box, scale, size))
                added.append(f"real/{name}")
                k += 1
    n_live = len(added)
    families = [c for c in CLASSES if c != "real"]
    for i, fam in enumerate(families):
        pool = [s for s in split["train"] if s in base and base[s].class_name == fam]
        n = n_live // len(families) + (1 if i < n_live % len(families) else 0)
        for s in rng.choice(pool, size=min(n, len(pool)), replace=False):
            images = base[s].images
            frame = cv2.imread(str(images[int(rng.integers(len(images)))]), cv2.IMREAD_COLOR)
            name = sample_name(fam, base[s].person, k)
            write_sample(a.out / fam / name, frame)
            added.append(f"{fam}/{name}")
            k += 1
    out_split = {**split, "train": list(split["train"]) + added}
    (a.out / "split.json").write_text(json.dumps(out_split, indent=1))
    print(json.dumps({"identities": len(idents), "skipped_photos": skipped, "raw_live": n_live,
                      "static_attacks": len(added) - n_live, "train": len(out_split["train"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
