"""Round 32's candidate: a checkpoint's weights with a given threshold, also as its convenience level.

    python weights/reports/round32/set_threshold.py SRC THRESHOLD OUT
"""
import sys
from dataclasses import replace
from pathlib import Path

from rtliveness.model.checkpoint import load_checkpoint, save_checkpoint


def main(src: str, threshold: str, out: str) -> None:
    loaded = load_checkpoint(Path(src), verify_checksum=False)
    t = float(threshold)
    levels = tuple((name, t if name == "convenience" else v) for name, v in loaded.meta.security_levels)
    save_checkpoint(Path(out), loaded.model, replace(loaded.meta, threshold=t, security_levels=levels))
    print(f"{out}: threshold {t}, levels {dict(levels)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
