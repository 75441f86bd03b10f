#!/usr/bin/env bash
# One short, prepared run for a machine with an NVIDIA GPU: the GPU tests, then the bench on CUDA
# next to the CPU in the same run, written as JSON. Without a CUDA device it says so and exits 3.
#
#   bash benchmarks/gpu.sh [OUT_JSON]        (default: runs/bench_gpu.json)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/bench_gpu.json}"
mkdir -p "$(dirname "$OUT")"
if ! python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu.sh: no CUDA device visible to PyTorch; nothing measured" >&2
    exit 3
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -m pytest -q tests/test_gpu.py
rtliveness bench --devices cuda,cpu --weights weights/spoofmodel.pt --variants default,default-torch \
    --frames 300 --json "$OUT"
echo "gpu.sh: wrote $OUT"
