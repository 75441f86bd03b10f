"""The opt-in OpenVINO bfloat16 encoder (`--backend openvino-bf16`, the [openvino] extra): refused with
one line on a CPU without native bfloat16, on CUDA and without OpenVINO; where it runs, embeddings
rounded (not another model), the head float32, and the same verdicts as the default encoder on the
bundled clips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_same_verdicts, clip_verdicts
from rtliveness.errors import ConfigError
from rtliveness.model import bf16
from rtliveness.model.backends import BackendSpec, TorchScorer, build_scorer
from rtliveness.model.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).with_name("rtliveness")
native = pytest.mark.skipif(not bf16.native_bf16(), reason="this CPU has no native bfloat16 (AMX / AVX512-BF16)")


def test_a_cpu_without_native_bf16_is_refused_with_one_line(tiny_weights, monkeypatch):
    monkeypatch.setattr(bf16, "native_bf16", lambda: False)
    with pytest.raises(ConfigError, match=r"^backend openvino-bf16 needs a CPU with native bfloat16 .*use --backend onnx or torch$"):
        build_scorer("openvino-bf16", BackendSpec(weights=tiny_weights, device="cpu"))


def test_cuda_is_refused_with_one_line(tiny_weights):
    with pytest.raises(ConfigError, match=r"^backend openvino-bf16 runs on the CPU only, not cuda:0; pass --device cpu, "
                                          r"or use --backend onnx or torch on the GPU$"):
        build_scorer("openvino-bf16", BackendSpec(weights=tiny_weights, device="cuda:0"))


def test_without_openvino_the_error_names_the_extra(tiny_weights, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(ConfigError, match=r"^backend openvino-bf16 needs OpenVINO, which is not installed; "
                                          r"install the \[openvino\] extra: pip install 'rtliveness\[openvino\]'$"):
        build_scorer("openvino-bf16", BackendSpec(weights=tiny_weights, device="cpu"))


@native
def test_embeddings_are_rounded_and_the_head_is_float32(tiny_weights, tmp_path):
    from rtliveness.model.onnx import default_ort_threads
    from rtliveness.model.openvino import OpenVinoScorer

    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (32, 32, 3), np.uint8) for _ in range(6)]
    ref = TorchScorer(load_checkpoint(tiny_weights), device="cpu")
    sc = build_scorer("openvino-bf16", BackendSpec(weights=tiny_weights, device="cpu"))
    assert isinstance(sc, OpenVinoScorer) and sc.precision == "bf16" and sc.threads == default_ort_threads()
    e32, e16 = ref.embed(crops), sc.embed(crops)
    assert e16.dtype == np.float32 and e16.shape == (6, 512)
    assert 0 < np.linalg.norm(e16 - e32) / np.linalg.norm(e32) < 0.03  # rounded, not another model
    assert np.array_equal(sc.embed(crops[:1]), sc.embed(crops[:1]))  # deterministic for a batch of one too
    f32 = OpenVinoScorer.from_checkpoint(tiny_weights, precision="f32", threads=1)
    assert np.allclose(f32.embed(crops), e32, rtol=1e-4, atol=1e-5)  # the export itself is the model
    windows = rng.normal(size=(3, 5, 512)).astype(np.float32)
    assert np.allclose(sc.head(windows), ref.head(windows), rtol=0, atol=1e-6)  # float32 head
    with pytest.raises(ValueError, match=r"head expects \(B, 5, 512\)"):
        sc.head(windows[:, :4])
    assert sc.embed([]).shape == (0, 512) and sc.head(np.zeros((0, 5, 512), np.float32)).shape == (0,)
    sc.close()
    with pytest.raises(RuntimeError, match="closed"):
        sc.embed(crops)


@native
@pytest.mark.slow
@pytest.mark.parametrize("clip", ["examples/live_webcam.mov", "examples/attack_printed.mp4", "examples/attack_replay.mp4"])
def test_openvino_bf16_keeps_every_verdict_of_the_default_encoder_on_the_bundled_clips(clip):
    largest = assert_same_verdicts(clip_verdicts("onnx", ROOT / clip), clip_verdicts("openvino-bf16", ROOT / clip),
                                   max_dp=0.02)
    assert largest > 0  # the bfloat16 encoder really ran


@native
def test_run_with_the_openvino_backend(tmp_path):
    r = subprocess.run([str(EXE), "run", str(ROOT / "examples/attack_replay.mp4"), "--backend", "openvino-bf16",
                        "--device", "cpu", "--jsonl", str(tmp_path / "r.jsonl")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "track 1: spoof" in r.stderr, r.stderr
    summary = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[-1])["summary"]
    assert [t["label"] for t in summary["tracks"]] == ["spoof"] and summary["error"] is None
