"""The opt-in bfloat16 encoder (`--backend torch-bf16`): refused with one line on a CPU without native
bfloat16; where there is one, the same verdicts as the float32 encoder on the bundled clips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import assert_same_verdicts, clip_verdicts
from rtliveness import LivenessPipeline, PipelineConfig
from rtliveness.errors import ConfigError
from rtliveness.model import bf16
from rtliveness.model.backends import BackendSpec, TorchScorer, build_scorer
from rtliveness.model.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).with_name("rtliveness")
native = pytest.mark.skipif(not bf16.native_bf16(), reason="this CPU has no native bfloat16 (AMX / AVX512-BF16)")


def test_a_cpu_without_native_bf16_is_refused_with_one_line(tiny_weights, monkeypatch):
    monkeypatch.setattr(bf16, "native_bf16", lambda: False)
    with pytest.raises(ConfigError, match=r"^backend torch-bf16 needs a CPU with native bfloat16 .*use --backend onnx or torch$"):
        build_scorer("torch-bf16", BackendSpec(weights=tiny_weights, device="cpu"))


@native
def test_bf16_embeddings_are_close_and_the_head_is_float32(tiny_weights):
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (32, 32, 3), np.uint8) for _ in range(6)]
    ref = TorchScorer(load_checkpoint(tiny_weights), device="cpu")
    sc = build_scorer("torch-bf16", BackendSpec(weights=tiny_weights, device="cpu"))
    assert isinstance(sc, bf16.Bf16Scorer)
    e32, e16 = ref.embed(crops), sc.embed(crops)
    assert e16.dtype == np.float32 and e16.shape == (6, 512)
    assert 0 < np.linalg.norm(e16 - e32) / np.linalg.norm(e32) < 0.03  # rounded, not another model
    windows = rng.normal(size=(3, 5, 512)).astype(np.float32)
    assert np.array_equal(sc.head(windows), ref.head(windows))  # the head is untouched float32
    assert sc.embed([]).shape == (0, 512) and sc.head(np.zeros((0, 5, 512), np.float32)).shape == (0,)
    sc.close()
    with pytest.raises(RuntimeError, match="closed"):
        sc.embed(crops)


@native
def test_the_encoder_call_gets_its_threads_and_the_pipeline_keeps_its_own(tiny_weights):
    import threading

    from rtliveness import DetectorConfig

    prev = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # what the loop sets for MTCNN
        sc = bf16.Bf16Scorer(load_checkpoint(tiny_weights), threads=3)
        seen = []
        real = sc.model.embed
        sc.model.embed = lambda t: (seen.append(torch.get_num_threads()), real(t))[1]
        sc.embed([np.zeros((32, 32, 3), np.uint8)])
        assert seen == [3] and torch.get_num_threads() == 1  # widened for the call, restored after
        sc.model.embed = lambda t: 1 / 0
        with pytest.raises(ZeroDivisionError):
            sc.embed([np.zeros((32, 32, 3), np.uint8)])
        assert torch.get_num_threads() == 1  # restored when the call fails too
        # a thread that took a wider count keeps the pipeline's own on its next frame
        pipe = LivenessPipeline.from_config(PipelineConfig(weights=tiny_weights, device="cpu", cpu_threads=1,
                                                           detector=DetectorConfig(kind="haar")))
        counts = []

        def stream():
            torch.set_num_threads(3)
            pipe.step(np.zeros((48, 64, 3), np.uint8))
            counts.append(torch.get_num_threads())

        t = threading.Thread(target=stream)
        t.start()
        t.join()
        assert counts == [1] and pipe.cpu_threads == 1
        pipe.close()
        assert bf16.Bf16Scorer(load_checkpoint(tiny_weights)).threads == bf16.available_cores()
    finally:
        torch.set_num_threads(prev)


@native
@pytest.mark.slow
@pytest.mark.parametrize("clip", ["examples/live_webcam.mov", "examples/attack_printed.mp4", "examples/attack_replay.mp4"])
def test_bf16_keeps_every_verdict_of_the_float_encoder_on_the_bundled_clips(clip):
    largest = assert_same_verdicts(clip_verdicts("torch", ROOT / clip), clip_verdicts("torch-bf16", ROOT / clip), max_dp=0.02)
    assert largest > 0  # the bfloat16 encoder really ran


@native
def test_run_with_the_bf16_backend(tmp_path):
    r = subprocess.run([str(EXE), "run", str(ROOT / "examples/attack_printed.mp4"), "--backend", "torch-bf16",
                        "--jsonl", str(tmp_path / "r.jsonl")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "track 1: spoof" in r.stderr, r.stderr
    summary = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[-1])["summary"]
    assert [t["label"] for t in summary["tracks"]] == ["spoof"] and summary["error"] is None
