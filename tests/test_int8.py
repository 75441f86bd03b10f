"""The opt-in int8 encoder (`--backend onnx-int8`): bound to the exact weights it was made from,
same verdicts as the float encoder on the bundled clips, rebuilt by the library's quantiser."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from rtliveness import LivenessPipeline, PipelineConfig  # noqa: E402
from rtliveness.errors import WeightsError  # noqa: E402
from rtliveness.model.checkpoint import default_weights_path, sha256_file  # noqa: E402
from rtliveness.model.quantize import int8_encoder_for, quantize_encoder  # noqa: E402
from conftest import assert_same_verdicts, clip_verdicts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_int8_encoder_belongs_to_the_shipped_weights():
    weights = default_weights_path()
    enc = int8_encoder_for(weights, sha256_file(weights))
    assert enc is not None and enc.stat().st_size > 1_000_000
    info = json.loads(enc.with_suffix(".json").read_text())
    assert info["check_label_flips"] == 0 and info["check_max_abs_dp"] <= 0.02
    assert int8_encoder_for(weights, "0" * 64) is None  # any other checkpoint: no int8 encoder


@pytest.mark.slow
@pytest.mark.parametrize("clip", ["examples/live_webcam.mov", "examples/attack_printed.mp4", "examples/attack_replay.mp4"])
def test_int8_keeps_every_verdict_of_the_float_encoder_on_the_bundled_clips(clip):
    assert_same_verdicts(clip_verdicts("onnx", ROOT / clip), clip_verdicts("onnx-int8", ROOT / clip), max_dp=0.02)


def test_int8_refuses_weights_it_was_not_made_from(tiny_weights):
    with pytest.raises(WeightsError, match="no int8 encoder made from"):
        LivenessPipeline.from_config(PipelineConfig(weights=tiny_weights, backend="onnx-int8", device="cpu",
                                                    detector=__import__("rtliveness").DetectorConfig(kind="haar")))


def test_quantize_encoder_builds_a_working_int8_encoder(tmp_path, tiny_weights):
    from rtliveness.model.export import ENCODER_FILE, export_onnx, read_export
    from rtliveness.model.onnx import OnnxScorer

    folder = export_onnx(tiny_weights, tmp_path / "export")
    _, info = read_export(folder)
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(4, 3, 32, 32)).astype(np.float32) for _ in range(4)]
    out = tiny_weights.with_name(tiny_weights.stem + ".encoder-int8.onnx")
    quantize_encoder(folder / ENCODER_FILE, out, batches, {"checkpoint_sha256": info["checkpoint_sha256"]})
    assert int8_encoder_for(tiny_weights, info["checkpoint_sha256"]) == out
    fp32, int8 = OnnxScorer.from_onnx(folder), OnnxScorer.from_onnx(folder, encoder_file=out)
    x = batches[0]
    a, b = fp32.embed_array(x), int8.embed_array(x)
    assert a.shape == b.shape == (4, 512)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9  # the same features, quantised
    out.unlink()
    out.with_suffix(".json").unlink()
