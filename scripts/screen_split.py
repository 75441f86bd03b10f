"""Protocol (d) of the model card: train on small screens, test on large ones.

From a joint split (``scripts/joint_dataset.py``) and the render records of the rendered sets it
links to (``synth_samples.jsonl`` of ``rtliveness synth``), write a split whose train and dev
replays are only the rendered screens whose longer side is at most ``--small-max`` screen pixels
(phones, small tablets) and whose test replays are only those of at least ``--large-min`` pixels
(large tablets, monitors, up to 6K); every other sample keeps its part.

    python scripts/screen_split.py runs/joint_loop3 --split-file runs/joint_loop3/split.json \\
        --records runs/synth_la/synth_samples.jsonl --out weights/reports/protocols_loop/screen_split.json

Prints how many replays each part keeps and their longer sides.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def screen_side(params: dict) -> int:
    """The longer side of a rendered replay's screen, in screen pixels, from its render parameters."""
    return int(max(params["screen_wh"]))


def screen_sides(records: list[Path]) -> dict[Path, int]:
    """Resolved sample folder -> longer side of its rendered screen (screen pixels), for every
    replay sample of the given render records."""
    out: dict[Path, int] = {}
    for rec in records:
        root = rec.parent
        for line in rec.read_text().splitlines():
            r = json.loads(line)
            if r.get("class") == "replay" and "screen_wh" in r.get("params", {}):
                out[(root / r["sample"]).resolve()] = screen_side(r["params"])
    return out


def screen_split(data: Path, split: dict[str, list[str]], sides: dict[Path, int], small_max: int,
                 large_min: int) -> tuple[dict[str, list[str]], dict[str, list[int]]]:
    """The protocol (d) split and the kept screens' sides per part. A replay sample without a
    render record (not rendered: no screen size known) is an error."""
    if small_max >= large_min:
        raise ValueError(f"--small-max {small_max} must be below --large-min {large_min}")
    new: dict[str, list[str]] = {}
    kept: dict[str, list[int]] = {}
    for part, names in split.items():
        new[part], kept[part] = [], []
        for name in names:
            if not name.startswith("replay/"):
                new[part].append(name)
                continue
            side = sides.get((data / name).resolve())
            if side is None:
                raise ValueError(f"replay sample {name} has no render record with a screen size: pass its "
                                 "synth_samples.jsonl with --records")
            if (side >= large_min) if part == "test" else (side <= small_max):
                new[part].append(name)
                kept[part].append(side)
    return new, kept


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="joint dataset folder (origin layout)")
    ap.add_argument("--split-file", type=Path, required=True)
    ap.add_argument("--records", type=Path, action="append", required=True,
                    help="synth_samples.jsonl of a rendered set the dataset links to (repeatable)")
    ap.add_argument("--small-max", type=int, default=1738, help="train/dev replays: longer screen side <= this")
    ap.add_argument("--large-min", type=int, default=1841, help="test replays: longer screen side >= this")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    try:
        split = json.loads(a.split_file.read_text())
        new, kept = screen_split(a.data, split, screen_sides(a.records), a.small_max, a.large_min)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(new, indent=1))
    for part, s in kept.items():
        print(f"{part}: {len(new[part])} samples, {len(s)} replays (screen sides {min(s, default=0)}-{max(s, default=0)} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
