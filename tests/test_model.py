import pickle

import pytest
import torch
from torch import nn

from rtliveness.errors import WeightsError
from rtliveness.model.checkpoint import ModelMeta, load_checkpoint, save_checkpoint
from rtliveness.model.spoofmodel import SpoofModel


def test_architecture_and_parameter_names():
    m = SpoofModel()
    names = list(dict(m.named_parameters()))
    assert names[0] == "encoder.conv1.weight"
    assert [n for n in names if not n.startswith("encoder.")] == ["conv1d.weight", "conv1d.bias", "fc.weight", "fc.bias"]
    assert tuple(m.conv1d.weight.shape) == (1, 5, 3)
    assert (m.conv1d.stride, m.conv1d.padding) == ((2,), (1,))
    assert tuple(m.fc.weight.shape) == (1, 256)
    assert isinstance(m.encoder.fc, nn.Identity)
    assert not any(n.startswith("encoder.fc") for n in names)


def test_embed_head_equals_forward():
    torch.manual_seed(1)
    m = SpoofModel().eval()
    x = torch.randn(3, 5, 3, 64, 64)
    with torch.no_grad():
        full = m(x)
        emb = torch.stack([m.embed(x[:, i]) for i in range(5)], dim=1)  # crop by crop, as a stream does
        split = m.head(emb)
    assert full.shape == (3,)
    assert emb.shape == (3, 5, 512)
    assert torch.allclose(full, split, atol=1e-5)


def test_forward_rejects_wrong_window():
    with pytest.raises(ValueError, match=r"\(B, 5, 3, H, W\)"):
        SpoofModel()(torch.zeros(1, 4, 3, 32, 32))


def test_checkpoint_roundtrip_with_meta(tmp_path):
    torch.manual_seed(2)
    m = SpoofModel().eval()
    meta = ModelMeta(input_size=112, crop_scale=1.6, threshold=0.37)
    path = save_checkpoint(tmp_path / "m.pt", m, meta, write_sha256=True)
    loaded = load_checkpoint(path)
    assert loaded.meta.input_size == 112 and loaded.meta.crop_scale == 1.6 and loaded.meta.threshold == 0.37
    assert loaded.sha256 is not None and len(loaded.sha256) == 64
    x = torch.randn(1, 5, 3, 48, 48)
    with torch.no_grad():
        assert torch.allclose(m(x), loaded.model(x), atol=1e-6)


def test_fp16_storage_is_close(tmp_path):
    torch.manual_seed(3)
    m = SpoofModel().eval()
    path = save_checkpoint(tmp_path / "h.pt", m, ModelMeta(), storage="fp16")
    loaded = load_checkpoint(path)
    assert next(loaded.model.parameters()).dtype == torch.float32
    x = torch.randn(2, 5, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(m(x), loaded.model(x), atol=2e-2)


@pytest.mark.parametrize("shape", ["bare", "model_state_dict", "state_dict", "module_prefix"])
def test_origin_checkpoints_load(tmp_path, shape):
    torch.manual_seed(4)
    m = SpoofModel().eval()
    sd = m.state_dict()
    if shape == "bare":
        obj = sd
    elif shape == "module_prefix":
        obj = {"module." + k: v for k, v in sd.items()}
    else:
        obj = {"epoch": 7, shape: sd, "optimizer_state_dict": {"state": {}, "param_groups": []}, "loss": 0.1}
    torch.save(obj, tmp_path / "origin.pt")
    loaded = load_checkpoint(tmp_path / "origin.pt")
    assert loaded.meta.input_size == 224 and loaded.meta.threshold == 0.5  # origin preprocessing
    x = torch.randn(1, 5, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(m(x), loaded.model(x), atol=1e-6)


def test_missing_weights(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_truncated_weights(tmp_path, tiny_weights):
    data = tiny_weights.read_bytes()
    bad = tmp_path / "trunc.pt"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(WeightsError, match="truncated, corrupt"):
        load_checkpoint(bad)


@pytest.mark.parametrize("kind", ["text", "onnx", "export"])
def test_what_is_not_a_checkpoint_is_named(tmp_path, kind):
    """A text file got 'cannot read weights file t.pt: 101; ...' (the unpickler's bare code); an
    ONNX graph or an export folder (rtliveness export) got advice that could not work."""
    if kind == "text":
        path = tmp_path / "t.pt"
        path.write_text("not a video\n" * 20)
        words = f"cannot read weights file {path}: not a PyTorch checkpoint; pass a .pt file written by rtliveness"
    elif kind == "onnx":
        path = tmp_path / "encoder.onnx"
        path.write_bytes(b"\x08\x07")
        words = f"weights file is an ONNX graph, not a checkpoint: {path}; pass the .pt checkpoint"
    else:
        path = tmp_path / "exp"
        path.mkdir()
        (path / "meta.json").write_text("{}")
        (path / "encoder.onnx").write_bytes(b"\x08")
        words = f"weights path is an ONNX export folder (rtliveness export, for other runtimes): {path}; pass the .pt"
    with pytest.raises(WeightsError) as e:
        load_checkpoint(path)
    assert str(e.value).startswith(words), str(e.value)


def test_checksum_mismatch(tmp_path, tiny_weights):
    copy = tmp_path / "w.pt"
    data = bytearray(tiny_weights.read_bytes())
    copy.write_bytes(bytes(data))
    (tmp_path / "w.pt.sha256").write_text("0" * 64 + "  w.pt\n")
    with pytest.raises(WeightsError, match="sha256"):
        load_checkpoint(copy)
    load_checkpoint(copy, verify_checksum=False)


def test_wrong_architecture(tmp_path):
    torch.save(nn.Linear(3, 4).state_dict(), tmp_path / "lin.pt")
    with pytest.raises(WeightsError, match="does not fit the SpoofModel"):
        load_checkpoint(tmp_path / "lin.pt")
    sd = SpoofModel().state_dict()
    sd["fc.weight"] = torch.zeros(1, 128)
    torch.save(sd, tmp_path / "shape.pt")
    with pytest.raises(WeightsError, match="does not fit the SpoofModel"):
        load_checkpoint(tmp_path / "shape.pt")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_with_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": _Evil()}, path)
    with pytest.raises(WeightsError, match="refused"):
        load_checkpoint(path)
    assert "pwned" not in capsys.readouterr().out
    path2 = tmp_path / "evil2.pt"
    path2.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(WeightsError):
        load_checkpoint(path2)


def test_plain_pickle_is_refused_in_one_line_without_torch_warnings(tmp_path, recwarn):
    """A plain pickle (protocol 4, what ``pickle.dump`` writes) made torch warn about its pickle
    protocol before the refusal: a second, confusing message on stderr (and pytest noise)."""
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"state_dict": {"w": [1.0]}}, protocol=4))
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        load_checkpoint(path)
    assert not [w for w in recwarn if "pickle protocol" in str(w.message)]


def test_nan_weights_refused(tmp_path):
    sd = SpoofModel().state_dict()
    sd["fc.bias"] = torch.tensor([float("nan")])
    torch.save(sd, tmp_path / "nan.pt")
    with pytest.raises(WeightsError, match="NaN"):
        load_checkpoint(tmp_path / "nan.pt")


def test_int8_storage_is_close_and_small(tmp_path):
    torch.manual_seed(5)
    m = SpoofModel().eval()
    full = save_checkpoint(tmp_path / "f.pt", m, ModelMeta())
    small = save_checkpoint(tmp_path / "q.pt", m, ModelMeta(), storage="int8")
    assert small.stat().st_size < 0.3 * full.stat().st_size
    loaded = load_checkpoint(small)
    assert loaded.model.encoder.conv1.weight.dtype == torch.float32
    w, wq = m.encoder.layer1[0].conv1.weight, loaded.model.encoder.layer1[0].conv1.weight
    step = w.abs().reshape(w.shape[0], -1).amax(1) / 127
    assert ((w - wq).abs().reshape(w.shape[0], -1).amax(1) <= step / 2 + 1e-7).all()  # half a step per channel
    x = torch.randn(2, 5, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(m(x)), torch.sigmoid(loaded.model(x)), atol=3e-2)


def test_int8_kernel_storage_scales_each_kernel_and_loads_back_close(tmp_path):
    torch.manual_seed(5)
    m = SpoofModel().eval()
    full = save_checkpoint(tmp_path / "f.pt", m, ModelMeta())
    small = save_checkpoint(tmp_path / "k.pt", m, ModelMeta(), storage="int8-kernel")
    assert 0.3 * full.stat().st_size < small.stat().st_size < 0.4 * full.stat().st_size
    loaded = load_checkpoint(small)
    w, wq = m.encoder.layer1[0].conv1.weight, loaded.model.encoder.layer1[0].conv1.weight
    step = w.abs().reshape(w.shape[0], w.shape[1], -1).amax(2) / 127  # one step per (output, input) kernel
    err = (w - wq).abs().reshape(w.shape[0], w.shape[1], -1).amax(2)
    assert (err <= step / 2 + 1e-7).all() and err.max() > 0
    per_channel = load_checkpoint(save_checkpoint(tmp_path / "q.pt", m, ModelMeta(), storage="int8"))
    wc = per_channel.model.encoder.layer1[0].conv1.weight
    assert (w - wq).abs().mean() < 0.5 * (w - wc).abs().mean()  # finer than one scale per channel
    fc, fq = m.fc.weight, loaded.model.fc.weight  # a linear layer keeps one scale per output
    assert ((fc - fq).abs().amax(1) <= fc.abs().amax(1) / 254 + 1e-7).all()
    with pytest.raises(ValueError, match="int8-kernel"):
        save_checkpoint(tmp_path / "x.pt", m, ModelMeta(), storage="int4")


@pytest.mark.parametrize("content", [b"vm\n", b"not a checkpoint\n"])
def test_a_text_file_is_refused_in_plain_words(tmp_path, content):
    path = tmp_path / "hostname"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match="cannot read weights file") as ei:
        load_checkpoint(path)
    msg = str(ei.value)
    assert "\n" not in msg
    assert "weights_only" not in msg and "PyTorch 2.6" not in msg, msg


def test_atomic_torch_save_keeps_the_old_file_whole_and_leaves_no_temp_file(tmp_path, monkeypatch):
    import os

    from rtliveness.model import checkpoint as ck

    path = tmp_path / "m.pt"
    ck.atomic_torch_save({"v": 1}, path)
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == 0o666 & ~umask  # an ordinary file, not mkstemp's 0600
    before = path.read_bytes()

    def half_then_fail(obj, fh):
        fh.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck.torch, "save", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        ck.atomic_torch_save({"v": 2}, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"v": 1}


def test_rewriting_a_checkpoint_with_its_sha256_loads_whatever_step_is_interrupted(tmp_path, monkeypatch):
    """calibrate --out over its input: the sidecar was rewritten after the new file, so a Ctrl+C
    between the two left the new file under the old sum, refused by every later load. Now a save
    that fails while serialising touches nothing, and one cut between the file and its sum leaves
    the new file without a sum (it loads)."""
    from contextlib import contextmanager

    from rtliveness.model import checkpoint as ck

    path, sidecar = tmp_path / "m.pt", tmp_path / "m.pt.sha256"
    ck.save_checkpoint(path, SpoofModel(), ModelMeta(input_size=32, threshold=0.5), write_sha256=True)
    old_bytes, old_sum = path.read_bytes(), sidecar.read_text()

    def full_disk(obj, fh):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck.torch, "save", full_disk)
    with pytest.raises(OSError):
        ck.save_checkpoint(path, SpoofModel(), ModelMeta(input_size=32, threshold=0.25), write_sha256=True)
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes and sidecar.read_text() == old_sum  # the old file keeps its sum
    real = ck.atomic_file

    @contextmanager
    def cut_before_the_sum(p, *a, **k):
        if str(p).endswith(".sha256"):
            raise KeyboardInterrupt
        with real(p, *a, **k) as fh:
            yield fh

    monkeypatch.setattr(ck, "atomic_file", cut_before_the_sum)
    with pytest.raises(KeyboardInterrupt):
        ck.save_checkpoint(path, SpoofModel(), ModelMeta(input_size=32, threshold=0.25), write_sha256=True)
    monkeypatch.undo()
    assert not sidecar.exists() and ck.load_checkpoint(path).meta.threshold == 0.25
    ck.save_checkpoint(path, SpoofModel(), ModelMeta(input_size=32, threshold=0.3), write_sha256=True)
    assert sidecar.read_text() == f"{ck.sha256_file(path)}  m.pt\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.pt.sha256"]
    assert ck.load_checkpoint(path).meta.threshold == 0.3


def test_a_missing_weights_path_names_where_the_bundled_weights_are(tmp_path):
    """Review finding: --init-weights weights/spoofmodel.pt outside the repository said 'pass
    --weights PATH or reinstall rtliveness' (the wrong option, and nothing to reinstall)."""
    from rtliveness.model.checkpoint import default_weights_path

    missing = tmp_path / "weights" / "spoofmodel.pt"
    with pytest.raises(WeightsError) as e:
        load_checkpoint(missing)
    assert str(e.value) == f"weights file not found: {missing}; check the path (the bundled weights are {default_weights_path()})"
