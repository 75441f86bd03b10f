"""Preprocessing four 112 px crops: the shipped lookup table (``preprocess_crops``) against the
per-pixel formula ``(v / 255 - mean) / std``. Median of 7 x 500 calls each, in ms.

    python benchmarks/preprocess_table.py
"""

import statistics
import timeit

import numpy as np

from rtliveness.model.backends import preprocess_crops
from rtliveness.model.checkpoint import ModelMeta


def main() -> None:
    meta = ModelMeta(input_size=112)
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for _ in range(4)]
    mean, std = np.array(meta.mean, np.float32), np.array(meta.std, np.float32)
    order = (2, 1, 0) if meta.color_order == "RGB" else (0, 1, 2)

    def per_pixel():
        batch = np.stack(crops)[..., list(order)].astype(np.float32) / 255.0
        return np.ascontiguousarray(((batch - mean) / std).transpose(0, 3, 1, 2))

    diff = float(np.abs(per_pixel() - preprocess_crops(crops, meta)).max())
    for name, fn in (("per pixel", per_pixel), ("table (shipped)", lambda: preprocess_crops(crops, meta))):
        runs = [timeit.timeit(fn, number=500) / 500 * 1e3 for _ in range(7)]
        print(f"{name:16s} {statistics.median(runs):.3f} ms")
    print(f"largest difference {diff:.1e} (float rounding of the formula's order)")


if __name__ == "__main__":
    main()
