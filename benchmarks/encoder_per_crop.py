"""The encoder alone: milliseconds to embed one and four 112 px crops with each CPU backend of
the bundled weights (ONNX Runtime float32 with 1 and 2 threads, PyTorch float32, PyTorch
bfloat16, OpenVINO bfloat16 where it is installed and the CPU has native bfloat16). Median of
7 rounds of 50 calls after a warm-up; preprocessing included (``Scorer.embed``).

    python benchmarks/encoder_per_crop.py --json benchmarks/encoder_per_crop.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from rtliveness.bench.runner import machine_info
from rtliveness.errors import RtlivenessError
from rtliveness.model.backends import BackendSpec, build_scorer

VARIANTS = (("onnx", 2), ("onnx", 1), ("torch", None), ("torch-bf16", None), ("openvino-bf16", None))


def per_call_ms(fn, rounds: int = 7, calls: int = 50) -> float:
    for _ in range(5):
        fn()
    runs = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        runs.append((time.perf_counter() - t0) / calls * 1e3)
    return statistics.median(runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for _ in range(4)]
    rows = []
    for name, threads in VARIANTS:
        try:
            scorer = build_scorer(name, BackendSpec(device="cpu", threads=threads))
        except (RtlivenessError, ImportError) as exc:  # no OpenVINO, or no native bfloat16
            rows.append({"backend": name, "threads": threads, "skipped": str(exc).splitlines()[0]})
            print(json.dumps(rows[-1]), flush=True)
            continue
        row = {"backend": name, "threads": getattr(scorer, "threads", threads),
               "one_ms": round(per_call_ms(lambda: scorer.embed(crops[:1])), 2),
               "four_ms": round(per_call_ms(lambda: scorer.embed(crops)), 2)}
        rows.append(row)
        print(json.dumps(row), flush=True)
        close = getattr(scorer, "close", None)
        if callable(close):
            close()
    if a.json:
        a.json.write_text(json.dumps({"machine": machine_info(), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
