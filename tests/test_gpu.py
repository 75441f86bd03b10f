"""CUDA path: skipped cleanly on machines without a GPU."""

import numpy as np
import pytest
import torch

from rtliveness.model.checkpoint import load_checkpoint
from rtliveness.model.backends import TorchScorer
from rtliveness.model.device import resolve_device
from rtliveness.errors import ConfigError

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu"


@pytest.mark.gpu
@cuda
def test_cuda_scores_match_cpu(tiny_weights):
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(10)]
    cpu = TorchScorer(load_checkpoint(tiny_weights), device="cpu")
    gpu = TorchScorer(load_checkpoint(tiny_weights), device="cuda")
    e_cpu, e_gpu = cpu.embed(crops), gpu.embed(crops)
    np.testing.assert_allclose(e_cpu, e_gpu, atol=1e-3, rtol=1e-3)
    w = np.stack([e_cpu[:5], e_cpu[5:]])
    np.testing.assert_allclose(cpu.head(w), gpu.head(w), atol=1e-4)
    half = TorchScorer(load_checkpoint(tiny_weights), device="cuda", amp_dtype="fp16")
    np.testing.assert_allclose(half.head(np.stack([half.embed(crops[:5])])), cpu.head(w[:1]), atol=2e-2)


@pytest.mark.gpu
@cuda
def test_the_bf16_backend_on_cuda_is_the_torch_scorer_under_bf16_autocast(tiny_weights):
    from rtliveness.model.backends import BackendSpec, build_scorer

    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(5)]
    cpu = TorchScorer(load_checkpoint(tiny_weights), device="cpu")
    sc = build_scorer("torch-bf16", BackendSpec(weights=tiny_weights, device="cuda"))
    assert isinstance(sc, TorchScorer) and sc._amp is torch.bfloat16
    e = sc.embed(crops)
    assert e.dtype == np.float32 and 0 < np.linalg.norm(e - cpu.embed(crops)) / np.linalg.norm(e) < 0.05
