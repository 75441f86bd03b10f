"""Person-disjoint split of a NUAA dataset made by ``prepare_nuaa.py`` (sample names in
``split.json`` form, for ``rtliveness train --split-file``). Test and dev people are fixed so
every run of the protocol uses the same held-out identities.

    python scripts/nuaa_split.py DATA_DIR OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rtliveness.training.data import scan_dataset

TEST = {"nuaa0003", "nuaa0007", "nuaa0011", "nuaa0014", "nuaa0015"}
DEV = {"nuaa0005", "nuaa0009"}


def main() -> int:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    ds = scan_dataset(data)
    split: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    for s in ds.samples:
        split["test" if s.person in TEST else "dev" if s.person in DEV else "train"].append(s.name)
    out.write_text(json.dumps(split, indent=1))
    print({k: len(v) for k, v in split.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
