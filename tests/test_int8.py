"""The opt-in int8 encoder (`--backend onnx-int8`): bound to the exact weights it was made from
(the bundled weights ship none), built by the library's quantiser."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from rtliveness import LivenessPipeline, PipelineConfig  # noqa: E402
from rtliveness.errors import WeightsError  # noqa: E402
from rtliveness.model.checkpoint import default_weights_path, sha256_file  # noqa: E402
from rtliveness.model.quantize import int8_encoder_for, quantize_encoder  # noqa: E402


def test_the_bundled_weights_ship_no_int8_encoder_and_the_backend_says_how_to_build_one():
    weights = default_weights_path()
    assert int8_encoder_for(weights, sha256_file(weights)) is None
    with pytest.raises(WeightsError, match=r"^no int8 encoder made from .*spoofmodel\.pt next to it; build one with "
                                           r"'python scripts/build_int8_encoder.py --weights .*' or use --backend onnx$"):
        LivenessPipeline.from_config(PipelineConfig(backend="onnx-int8", device="cpu"))


def test_int8_refuses_weights_no_encoder_was_made_for(tiny_weights):
    with pytest.raises(WeightsError, match="no int8 encoder made from"):
        LivenessPipeline.from_config(PipelineConfig(weights=tiny_weights, backend="onnx-int8", device="cpu",
                                                    detector=__import__("rtliveness").DetectorConfig(kind="haar")))


def test_quantize_encoder_builds_a_working_int8_encoder_bound_to_its_weights(tmp_path, tiny_weights):
    import json

    from rtliveness.model.backends import BackendSpec, build_scorer
    from rtliveness.model.export import ENCODER_FILE, export_onnx, read_export
    from rtliveness.model.onnx import OnnxScorer

    folder = export_onnx(tiny_weights, tmp_path / "export")
    _, info = read_export(folder)
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(4, 3, 32, 32)).astype(np.float32) for _ in range(4)]
    out = tiny_weights.with_name(tiny_weights.stem + ".encoder-int8.onnx")
    try:
        quantize_encoder(folder / ENCODER_FILE, out, batches, {"checkpoint_sha256": info["checkpoint_sha256"]})
        assert int8_encoder_for(tiny_weights, info["checkpoint_sha256"]) == out
        fp32, int8 = OnnxScorer.from_onnx(folder), OnnxScorer.from_onnx(folder, encoder_file=out)
        x = batches[0]
        a, b = fp32.embed_array(x), int8.embed_array(x)
        assert a.shape == b.shape == (4, 512)
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9  # the same features, quantised
        # the backend picks it up for exactly these weights
        sc = build_scorer("onnx-int8", BackendSpec(weights=tiny_weights, device="cpu"))
        assert sc.encoder_file == out
        np.testing.assert_array_equal(sc.embed_array(x), b)
        # a sidecar naming other weights: the encoder is not theirs
        out.with_suffix(".json").write_text(json.dumps({"checkpoint_sha256": "0" * 64}))
        assert int8_encoder_for(tiny_weights, info["checkpoint_sha256"]) is None
        with pytest.raises(WeightsError, match="no int8 encoder made from"):
            build_scorer("onnx-int8", BackendSpec(weights=tiny_weights, device="cpu"))
    finally:
        out.unlink(missing_ok=True)
        out.with_suffix(".json").unlink(missing_ok=True)
