"""One origin-layout dataset from several (symbolic links, nothing copied) plus a person-disjoint
split for ``rtliveness train --split-file``: the joint fine-tune on real captures (NUAA, with its
fixed split) and rendered samples (``rtliveness synth``, identities split here).

    python scripts/joint_dataset.py OUT --fixed runs/nuaa_data=weights/reports/nuaa_split.json \
        --split-by-person runs/synth_train [--dev 0.2 --test 0.2] [--person carphone=train]

A part given as ``ROOT::TAG`` gets TAG put in front of each sample number (``real_carphone_00012``
becomes ``real_carphone_TAG00012``), so two renders of one identity can sit side by side.
``--fixed ROOT=SPLIT.json`` keeps that dataset's own split; ``--split-by-person ROOT`` assigns
each identity to train/dev/test by a stable hash of its id (the same id always lands in the
same split, whatever else is in the dataset) unless ``--person ID=SPLIT`` places it. Every part must store crops at the same scale.
Writes OUT/{class}/<sample> links, OUT/rtliveness_data.json and OUT/split.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from rtliveness.training.data import DATA_META, scan_dataset


def person_split(person: str, dev: float, test: float) -> str:
    u = int(hashlib.sha256(person.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if u < test else "dev" if u < test + dev else "train"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--fixed", action="append", default=[], help="ROOT=SPLIT.json")
    ap.add_argument("--split-by-person", action="append", default=[], type=Path)
    ap.add_argument("--dev", type=float, default=0.2)
    ap.add_argument("--test", type=float, default=0.2)
    ap.add_argument("--person", action="append", default=[], help="ID=train|dev|test: place this identity")
    a = ap.parse_args()

    split: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    placed = dict(p.split("=", 1) for p in a.person)
    if not set(placed.values()) <= set(split):
        raise SystemExit(f"--person takes ID=train|dev|test, got {a.person}")
    scales = set()
    parts = [(Path(p.split("=", 1)[0]), Path(p.split("=", 1)[1])) for p in a.fixed] + [(p, None) for p in a.split_by_person]
    a.out.mkdir(parents=True, exist_ok=True)
    for root, split_file in parts:
        root, _, tag = str(root).partition("::")
        ds = scan_dataset(root, check_images=False)
        scales.add(ds.crop_scale)
        fixed = {}
        if split_file is not None:
            for k, names in json.loads(split_file.read_text()).items():
                fixed.update({n: k for n in names})
        for s in ds.samples:
            which = fixed.get(s.name) if split_file is not None else placed.get(s.person) or person_split(s.person, a.dev, a.test)
            if which is None:
                continue
            cls, _, rest = s.name.partition("/")
            head, _, num = rest.rpartition("_")
            link = a.out / cls / f"{head}_{tag}{num}"
            if link.exists() or link.is_symlink():
                raise SystemExit(f"sample {s.name} appears twice (in {root} and an earlier part); rename one")
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(s.images[0].parent.resolve(), link)
            split[which].append(f"{cls}/{link.name}")
    if len(scales) != 1 or None in scales:
        raise SystemExit(f"the parts store crops at different or unknown scales: {scales}")
    (a.out / DATA_META).write_text(json.dumps({"crop_scale": scales.pop()}))
    (a.out / "split.json").write_text(json.dumps(split, indent=1))
    print({k: len(v) for k, v in split.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
