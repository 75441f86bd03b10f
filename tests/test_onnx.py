"""ONNX export and OnnxScorer: parity with TorchScorer, the export cache, the pipeline backend."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from conftest import FakeDetector, moving_face_frames  # noqa: E402
from rtliveness.config import PipelineConfig  # noqa: E402
from rtliveness.errors import ConfigError, WeightsError  # noqa: E402
from rtliveness.model.checkpoint import ModelMeta, load_checkpoint, save_checkpoint, sha256_file  # noqa: E402
from rtliveness.model.spoofmodel import SpoofModel  # noqa: E402
from rtliveness.model.export import export_onnx  # noqa: E402
from rtliveness.model.onnx import OnnxScorer  # noqa: E402
from rtliveness.runtime.pipeline import LivenessPipeline  # noqa: E402
from rtliveness.model.backends import TorchScorer  # noqa: E402
from rtliveness.runtime.sources import ArraySource  # noqa: E402
from rtliveness.types import FaceBox  # noqa: E402


@pytest.fixture(scope="module")
def weights48(tmp_path_factory):
    import torch

    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("w48") / "m48.pt"
    save_checkpoint(path, SpoofModel(), ModelMeta(input_size=48, crop_scale=1.5, threshold=0.5), write_sha256=True)
    return path


@pytest.fixture(scope="module")
def exported(weights48, tmp_path_factory):
    return export_onnx(weights48, tmp_path_factory.mktemp("onnx") / "m48")


def test_export_layout_and_meta(weights48, exported):
    assert (exported / "encoder.onnx").is_file() and (exported / "head.onnx").is_file()
    info = json.loads((exported / "meta.json").read_text())
    assert info["format"] == "rtliveness-onnx" and info["opset"] == 17
    assert info["checkpoint_sha256"] == sha256_file(weights48)
    assert ModelMeta.from_dict(info["meta"]) == load_checkpoint(weights48).meta
    sc = OnnxScorer.from_onnx(exported / "meta.json")  # any file inside the folder works too
    assert sc.meta.input_size == 48 and sc.meta.crop_scale == 1.5


@pytest.mark.parametrize("opset", [7, 20])
def test_every_accepted_opset_loads_and_matches(weights48, tmp_path, opset):
    """The ends of the accepted range export graphs ONNX Runtime loads and that match PyTorch."""
    out = export_onnx(weights48, tmp_path / "e", opset=opset)
    assert json.loads((out / "meta.json").read_text())["opset"] == opset
    crops = [np.random.default_rng(opset).integers(0, 256, (48, 48, 3), dtype=np.uint8) for _ in range(2)]
    ref = TorchScorer(load_checkpoint(weights48), device="cpu").embed(crops)
    np.testing.assert_allclose(OnnxScorer.from_onnx(out, threads=1).embed(crops), ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("opset", [5, 6, 21, True, 17.0])
def test_an_opset_outside_the_range_is_refused_before_any_work(weights48, tmp_path, opset):
    """Opset 5 used to export a graph ONNX Runtime refuses to load (BatchNormalization's
    consumed_inputs); the range is checked before anything is written."""
    with pytest.raises(ConfigError, match=rf"ONNX opset must be in 7\.\.20 .*got {opset!r}; the default is 17"):
        export_onnx(weights48, tmp_path / "e", opset=opset)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("n", [1, 3, 7])
def test_embed_parity_dynamic_batch(weights48, exported, n):
    rng = np.random.default_rng(n)
    crops = [rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for _ in range(n)]
    ref = TorchScorer(load_checkpoint(weights48), device="cpu").embed(crops)
    got = OnnxScorer.from_onnx(exported, threads=1).embed(crops)
    assert got.shape == (n, 512) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("b", [1, 4])
def test_head_parity(weights48, exported, b):
    rng = np.random.default_rng(10 + b)
    windows = rng.normal(0, 1, (b, 5, 512)).astype(np.float32)
    ref = TorchScorer(load_checkpoint(weights48), device="cpu").head(windows)
    sc = OnnxScorer.from_onnx(exported)
    got = sc.head(windows)
    assert got.shape == (b,)
    np.testing.assert_allclose(got, ref, atol=1e-4)
    assert np.all((got >= 0) & (got <= 1))
    assert sc.head(np.zeros((0, 5, 512), np.float32)).shape == (0,)
    assert sc.embed([]).shape == (0, 512)
    with pytest.raises(ValueError):
        sc.head(np.zeros((1, 4, 512), np.float32))


def test_from_checkpoint_caches_by_sha256(weights48, tmp_path):
    cache = tmp_path / "cache"
    a = OnnxScorer.from_checkpoint(weights48, cache_dir=cache)
    folders = list(cache.iterdir())
    assert len(folders) == 1 and folders[0].name.startswith(sha256_file(weights48)[:32])
    mtime = (folders[0] / "encoder.onnx").stat().st_mtime_ns
    b = OnnxScorer.from_checkpoint(weights48, cache_dir=cache)  # reused, not exported again
    assert (folders[0] / "encoder.onnx").stat().st_mtime_ns == mtime
    assert a.path == b.path
    assert not [p for p in cache.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("graph", ["encoder.onnx", "head.onnx"])
@pytest.mark.parametrize("damage", ["truncate", "change"])
def test_a_damaged_cache_entry_is_made_again(weights48, tmp_path, damage, graph):
    """A truncated or altered encoder.onnx in the cache used to block every default run with
    'cannot load the ONNX export ...; export it again', which no command could do (export never
    writes the cache). meta.json records each graph file's size and sha256; a mismatch re-exports."""
    cache = tmp_path / "cache"
    OnnxScorer.from_checkpoint(weights48, cache_dir=cache)
    (folder,) = list(cache.iterdir())
    info = json.loads((folder / "meta.json").read_text())
    enc = folder / graph
    assert info["files"][graph] == {"bytes": enc.stat().st_size, "sha256": sha256_file(enc)}
    data = enc.read_bytes()
    enc.write_bytes(data[: len(data) // 2] if damage == "truncate" else data[:-1] + bytes([data[-1] ^ 1]))
    if damage == "truncate":  # read_export alone names the damage (export folders given to from_onnx)
        with pytest.raises(WeightsError, match=rf"is damaged: {graph} has \d+ bytes, meta.json says \d+; export it again"):
            OnnxScorer.from_onnx(folder)
    sc = OnnxScorer.from_checkpoint(weights48, cache_dir=cache)  # made again, then loads
    assert enc.read_bytes() == data
    crops = [np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)]
    ref = TorchScorer(load_checkpoint(weights48), device="cpu").embed(crops)
    np.testing.assert_allclose(sc.embed(crops), ref, atol=1e-4, rtol=1e-4)


def test_a_cache_entry_without_file_records_is_made_again(weights48, tmp_path):
    """Entries written before meta.json recorded the graph files are rebuilt once, then reused."""
    cache = tmp_path / "cache"
    OnnxScorer.from_checkpoint(weights48, cache_dir=cache)
    (folder,) = list(cache.iterdir())
    info = json.loads((folder / "meta.json").read_text())
    del info["files"]
    (folder / "meta.json").write_text(json.dumps(info))
    OnnxScorer.from_checkpoint(weights48, cache_dir=cache)
    assert "files" in json.loads((folder / "meta.json").read_text())


def test_export_refuses_a_read_only_place_before_loading_the_weights(weights48, tmp_path, monkeypatch):
    import rtliveness.model.export as export
    import rtliveness.outputs as outputs

    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = outputs.os.access
    monkeypatch.setattr(outputs.os, "access", lambda p, mode: False if Path(p) == ro else real_access(p, mode))
    monkeypatch.setattr(export, "load_checkpoint", lambda *a, **k: pytest.fail("weights loaded before the check"))
    with pytest.raises(ConfigError, match=f"--out cannot be written: {ro} is read-only or not yours; give another path"):
        export_onnx(weights48, ro / "sub")
    assert not any(ro.iterdir())


def test_from_checkpoint_checks_sha256(weights48, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(weights48.read_bytes())
    (tmp_path / "bad.pt.sha256").write_text("0" * 64 + "  bad.pt\n")
    with pytest.raises(WeightsError, match="sha256"):
        OnnxScorer.from_checkpoint(bad, cache_dir=tmp_path / "c")
    OnnxScorer.from_checkpoint(bad, verify_checksum=False, cache_dir=tmp_path / "c")


def test_a_closed_onnx_scorer_is_a_closed_error(exported):
    from rtliveness.errors import ClosedError

    sc = OnnxScorer.from_onnx(exported)
    sc.close()
    for call in (lambda: sc.embed_array(np.zeros((1, 3, 48, 48), np.float32)), lambda: sc.head(np.zeros((1, 5, 512))),
                 lambda: sc.logits(np.zeros((1, 5, 512)))):
        with pytest.raises(ClosedError, match=r"^this scorer is closed"):
            call()


def test_from_onnx_rejects_non_exports(tmp_path):
    with pytest.raises(WeightsError, match="not an rtliveness ONNX export"):
        OnnxScorer.from_onnx(tmp_path)


def test_missing_onnxruntime_gives_install_hint(monkeypatch, weights48, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'rtliveness\[onnx\]'"):
        OnnxScorer.from_checkpoint(weights48, cache_dir=tmp_path)


def test_onnx_scorer_in_pipeline_matches_torch(weights48, exported, grace):
    frames = moving_face_frames(grace, 9, size=(320, 240), face_side=120)
    box = (FaceBox(60, 70, 150, 170, 0.99),)

    def run(scorer):
        p = LivenessPipeline(FakeDetector([box]), scorer)
        return list(p.run(ArraySource(frames)))

    ref = run(TorchScorer(load_checkpoint(weights48), device="cpu"))
    got = run(OnnxScorer.from_onnx(exported))
    assert [v.label for r in ref for v in r.faces] == [v.label for r in got for v in r.faces]
    pr = [v.p_spoof for r in ref for v in r.faces if v.p_spoof is not None]
    pg = [v.p_spoof for r in got for v in r.faces if v.p_spoof is not None]
    assert len(pr) == len(pg) == 5
    np.testing.assert_allclose(pg, pr, atol=1e-4)


def test_pipeline_from_config_onnx_backend(weights48, monkeypatch, tmp_path):
    monkeypatch.setenv("RTLIVENESS_CACHE", str(tmp_path / "cache"))
    pipe = LivenessPipeline.from_config(PipelineConfig(weights=weights48, device="cpu", backend="onnx"))
    assert isinstance(pipe.scorer, OnnxScorer)
    assert (tmp_path / "cache" / "onnx").is_dir()
    r = pipe.step(np.full((120, 160, 3), 90, np.uint8))
    assert r.faces == ()
