"""dlib ResNet-34 → resnet18 pretraining: the dlib format reader/writer, the PyTorch
re-implementation (against a plain numpy reference on a tiny dlib-format net), a distillation
smoke run, and — when the real 86 MB file is cached — the ImageNet check on scikit-image's
``chelsea`` (a cat) and ``coffee`` (a cup)."""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from rtliveness.training.pretrain import dlib_format as df
from rtliveness.training.pretrain.distill import DistillConfig, distill, make_student
from rtliveness.training.pretrain.dlib_resnet import (
    DlibNetModule,
    DlibResNet,
    add_zero_padded,
    dlib_normalize,
    dlib_resnet_spec,
    load_dlib_resnet34,
    preprocess,
    resnet34_imagenet_spec,
)

torch.set_num_threads(1)

CACHED_DNN = Path(os.environ.get("RTLIVENESS_CACHE", Path.home() / ".cache" / "rtliveness")) \
    / "dlib" / "resnet34_1000_imagenet_classifier.dnn"


# ---------------------------------------------------------------------------------------------
# primitives
# ---------------------------------------------------------------------------------------------


def _int_bytes(v: int) -> bytes:
    w = df.ByteWriter()
    w.write_int(v)
    return w.getvalue()


@pytest.mark.parametrize("value, encoded", [
    (0, "0100"), (1, "0101"), (227, "01e3"), (1000, "02e803"), (9472, "020025"),
    (-17, "8111"), (-1, "8101"), (2**63 - 1, "08ffffffffffffff7f"),
])
def test_integer_encoding(value: int, encoded: str) -> None:
    assert _int_bytes(value).hex() == encoded
    assert df.ByteReader(bytes.fromhex(encoded)).read_int() == value


def test_float_encoding_matches_the_real_file() -> None:
    # dlib's ImageNet file stores avg_red = 122.782f as mantissa 0xf59062, exponent -17.
    w = df.ByteWriter()
    w.write_float(float(np.float32(122.782)), df.FLOAT_DIGITS)
    assert w.getvalue().hex() == "036290f58111"
    assert df.float_details(0.0, df.FLOAT_DIGITS) == (0, 40)
    assert df.float_details(0.0, df.DOUBLE_DIGITS) == (0, 11)
    assert df.float_details(1.0, df.DOUBLE_DIGITS) == (16, -4)  # 2**52 with 6 zero bytes dropped
    assert df.float_details(-0.5, df.FLOAT_DIGITS) == (-128, -8)


@pytest.mark.parametrize("value", [0.0, 1.0, -0.5, 3.14159, 1e-30, -7.25e12, 1e-45, math.inf, -math.inf])
@pytest.mark.parametrize("digits", [df.FLOAT_DIGITS, df.DOUBLE_DIGITS])
def test_float_round_trip(value: float, digits: int) -> None:
    if digits == df.FLOAT_DIGITS:
        value = float(np.float32(value))
    w = df.ByteWriter()
    w.write_float(value, digits)
    assert df.ByteReader(w.getvalue()).read_float() == value


def test_nan_bool_string_and_errors() -> None:
    w = df.ByteWriter()
    w.write_float(math.nan)
    w.write_bool(True)
    w.write_bool(False)
    w.write_string("con_4")
    r = df.ByteReader(w.getvalue())
    assert math.isnan(r.read_float())
    assert r.read_bool() is True and r.read_bool() is False
    assert r.read_string() == "con_4"
    with pytest.raises(df.DlibFormatError, match="truncated"):
        r.read_int()
    with pytest.raises(df.DlibFormatError, match="control byte"):
        df.ByteReader(b"\x31").read_int()
    with pytest.raises(df.DlibFormatError, match="bool"):
        df.ByteReader(b"\x02").read_bool()


@pytest.mark.parametrize("version", [1, 2])
def test_tensor_round_trip(version: int) -> None:
    data = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    w = df.ByteWriter()
    w.write_tensor(df.DlibTensor(data, version))
    w.write_alias((1, 3, 1, 1))
    r = df.ByteReader(w.getvalue())
    t = r.read_tensor()
    assert t.version == version and t.data.dtype == np.float32
    np.testing.assert_array_equal(t.data, data)
    assert r.read_alias() == (1, 3, 1, 1)
    assert r.remaining() == 0


# ---------------------------------------------------------------------------------------------
# a tiny dlib network
# ---------------------------------------------------------------------------------------------


def _tiny_net(rng: np.random.Generator) -> df.DlibNet:
    """Input 12x12 → con/affine/relu → 3x3/2 max pool (padding 1) → a dlib downsampling block
    (4 → 8 channels, 2x2/2 average-pooled shortcut, zero-padded add) → a plain block → an
    fc-mode affine → global average pool → fc 8 → 5. One conv uses dlib float (v1) tensors."""

    def con(k: int, f: int, ks: int, stride: int, pad: int) -> df.Con:
        return df.Con.from_arrays(rng.standard_normal((f, k, ks, ks)).astype(np.float32) * 0.3,
                                  rng.standard_normal(f).astype(np.float32) * 0.1, stride, pad)

    def affine(c: int, shape: tuple[int, ...] | None = None, mode: int = df.CONV_MODE) -> df.Affine:
        shp = (c,) if shape is None else shape
        return df.Affine.from_arrays(rng.uniform(0.5, 1.5, shp).astype(np.float32),
                                     rng.standard_normal(shp).astype(np.float32) * 0.1, mode)

    v1 = con(8, 8, 3, 1, 1)
    v1.params = df.DlibTensor(v1.params.data, version=1)
    stem = con(3, 4, 3, 1, 1)
    stem.state = df.LayerState(version=3, sample_expansion_factor=1)
    layers: list[df.Layer] = [
        stem, affine(4), df.Relu(), df.MaxPool(3, 3, 2, 2, 1, 1),
        # ares_down: relu<add_prev2<avg_pool<skip1<tag2<block<tag1<...>>>>>>>
        df.Tag(1), con(4, 8, 3, 2, 1), affine(8), df.Relu(), con(8, 8, 3, 1, 1), affine(8),
        df.Tag(2), df.Skip(1), df.AvgPool(2, 2, 2, 2), df.AddPrev(2), df.Relu(),
        # ares: relu<add_prev1<block<tag1<...>>>>
        df.Tag(1), v1, affine(8), df.Relu(), con(8, 8, 3, 1, 1), affine(8), df.AddPrev(1), df.Relu(),
        affine(8, (8, 3, 3), df.FC_MODE),
        df.AvgPool(0, 0, 1, 1),
        df.Fc.from_arrays(rng.standard_normal((8, 5)).astype(np.float32), rng.standard_normal(5).astype(np.float32)),
    ]
    return df.DlibNet(df.InputRGBImageSized(nr=12, nc=12), layers, df.LossMulticlassLog())


@pytest.fixture()
def tiny() -> df.DlibNet:
    return _tiny_net(np.random.default_rng(1))


def _arrays(layer: object) -> list[np.ndarray]:
    return [v.data for v in vars(layer).values() if isinstance(v, df.DlibTensor)]


def test_tiny_net_round_trips_exactly(tiny: df.DlibNet, tmp_path: Path) -> None:
    path = tmp_path / "tiny.dnn"
    labels = ["a", "b", "c", "d", "e"]
    df.write_dnn_file(path, tiny, labels)
    data = path.read_bytes()

    # without a spec: tag/skip layers are indistinguishable
    bare = df.read_dnn_file(path)
    assert bare.labels == labels and bare.trailing == b""
    assert sum(isinstance(lay, df.TagOrSkip) for lay in bare.net.layers) == 4
    assert all(lay.tag is None for lay in bare.net.layers if isinstance(lay, df.AddPrev))

    spec = df.net_spec(tiny)
    back = df.read_dnn_file(path, spec=spec).net
    assert df.net_spec(back) == spec
    assert back.input == tiny.input and back.loss == tiny.loss
    for a, b in zip(tiny.layers, back.layers):
        assert type(a) is type(b)
        for x, y in zip(_arrays(a), _arrays(b)):
            np.testing.assert_array_equal(x, y)  # bit-exact
        if isinstance(a, df.Con):
            np.testing.assert_array_equal(a.weight, b.weight)
            assert (a.params.version, a.stride_y, a.padding_x) == (b.params.version, b.stride_y, b.padding_x)
        if isinstance(a, (df.MaxPool, df.AvgPool)):
            assert (a.nr, a.nc, a.stride_y, a.padding_y) == (b.nr, b.nc, b.stride_y, b.padding_y)
    assert back.layers[0].state.sample_expansion_factor == 1
    # writing what was read reproduces the bytes
    assert df.write_net_bytes(back) + _labels_bytes(labels) == data
    assert df.write_net_bytes(bare.net) + _labels_bytes(labels) == data


def _labels_bytes(labels: list[str]) -> bytes:
    w = df.ByteWriter()
    w.write_int(len(labels))
    for s in labels:
        w.write_string(s)
    return w.getvalue()


def test_spec_mismatch_and_truncation_are_reported(tiny: df.DlibNet) -> None:
    data = df.write_net_bytes(tiny)
    spec = df.net_spec(tiny)
    wrong = ["relu" if t == "con" else t for t in spec]
    with pytest.raises(df.DlibFormatError, match="spec"):
        df.read_net_bytes(data, spec=wrong)
    with pytest.raises(df.DlibFormatError, match="spec has"):
        df.read_net_bytes(data, spec=spec[1:])
    with pytest.raises(df.DlibFormatError):
        df.read_net_bytes(data[:-7])
    with pytest.raises(df.DlibFormatError, match="unread"):
        df.read_net_bytes(data + b"\x00")


# ---------------------------------------------------------------------------------------------
# the PyTorch re-implementation against numpy
# ---------------------------------------------------------------------------------------------


def _np_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: tuple[int, int], pad: tuple[int, int]) -> np.ndarray:
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh, ow = 1 + (h + 2 * pad[0] - kh) // stride[0], 1 + (wd + 2 * pad[1] - kw) // stride[1]
    out = np.zeros((n, f, oh, ow), np.float64)
    for r in range(oh):
        for c in range(ow):
            patch = xp[:, :, r * stride[0]:r * stride[0] + kh, c * stride[1]:c * stride[1] + kw]
            out[:, :, r, c] = np.einsum("nkij,fkij->nf", patch, w)
    return out + b.reshape(1, -1, 1, 1)


def _np_pool(x: np.ndarray, p: df.MaxPool | df.AvgPool) -> np.ndarray:
    n, k, h, w = x.shape
    kh, kw = p.nr or h, p.nc or w
    (sy, sx), (py, px) = (p.stride_y, p.stride_x), (p.padding_y, p.padding_x)
    oh, ow = 1 + (h + 2 * py - kh) // sy, 1 + (w + 2 * px - kw) // sx
    out = np.zeros((n, k, oh, ow), np.float64)
    for r in range(oh):
        for c in range(ow):
            r0, c0 = r * sy - py, c * sx - px
            win = x[:, :, max(r0, 0):min(r0 + kh, h), max(c0, 0):min(c0 + kw, w)]
            out[:, :, r, c] = win.max(axis=(2, 3)) if isinstance(p, df.MaxPool) else win.mean(axis=(2, 3))
    return out


def _np_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros([max(x, y) for x, y in zip(a.shape, b.shape)], np.float64)
    out[tuple(slice(0, s) for s in a.shape)] += a
    out[tuple(slice(0, s) for s in b.shape)] += b
    return out


def _np_forward(net: df.DlibNet, x: np.ndarray) -> np.ndarray:
    """Straightforward float64 evaluation of a resolved dlib net on a normalised input."""
    tags: dict[int, np.ndarray] = {}
    x = x.astype(np.float64)
    for lay in net.layers:
        if isinstance(lay, df.Con):
            x = _np_conv(x, lay.weight, lay.bias, (lay.stride_y, lay.stride_x), (lay.padding_y, lay.padding_x))
        elif isinstance(lay, df.Affine):
            x = x * lay.gamma + lay.beta
        elif isinstance(lay, df.Relu):
            x = np.maximum(x, 0.0)
        elif isinstance(lay, (df.MaxPool, df.AvgPool)):
            x = _np_pool(x, lay)
        elif isinstance(lay, df.Fc):
            x = (x.reshape(x.shape[0], -1) @ lay.weight + lay.bias).reshape(x.shape[0], -1, 1, 1)
        elif isinstance(lay, df.Tag):
            tags[lay.id] = x
        elif isinstance(lay, df.Skip):
            x = tags[lay.id]
        elif isinstance(lay, df.AddPrev):
            assert lay.tag is not None
            x = _np_add(x, tags[lay.tag])
        else:
            raise AssertionError(type(lay))
    return x


def test_pytorch_forward_matches_numpy_reference(tiny: df.DlibNet) -> None:
    # go through the file format so the module is built from *parsed* layers
    net = df.read_net_bytes(df.write_net_bytes(tiny), spec=df.net_spec(tiny))
    rgb = np.random.default_rng(2).integers(0, 256, (3, 12, 12, 3)).astype(np.uint8)
    x = preprocess(rgb, size=12, mean=net.input.mean)
    expected_input = (rgb.transpose(0, 3, 1, 2) - np.asarray(net.input.mean).reshape(1, 3, 1, 1)) / 256.0
    np.testing.assert_allclose(x.numpy(), expected_input, atol=1e-6)

    module = DlibNetModule(net).eval()
    trace: list[tuple[str, tuple[int, ...]]] = []
    with torch.no_grad():
        got = module(x, trace=trace).numpy()
    want = _np_forward(net, x.numpy())
    assert got.shape == want.shape == (3, 5, 1, 1)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # the downsampling add: block output 8 channels + pooled shortcut 4 channels → 8
    shapes = dict((name, shp) for name, shp in trace if name in ("add_prev2", "max_pool"))
    assert shapes == {"max_pool": (3, 4, 6, 6), "add_prev2": (3, 8, 3, 3)}

    folded = DlibNetModule(net, fold_affine=True).eval()
    assert sum(isinstance(m, torch.nn.Conv2d) for m in folded.layers.values()) == 5
    assert len(folded.ops) == len(module.ops) - 5  # the 5 conv-mode affines after a con fold
    with torch.no_grad():
        np.testing.assert_allclose(folded(x).numpy(), want, rtol=1e-4, atol=1e-5)


def test_add_zero_padded_pads_every_dimension() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 6, 3, 5))
    got = add_zero_padded(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(got, _np_add(a, b))
    assert got.shape == (2, 6, 4, 5)
    np.testing.assert_allclose(got[:, 3:, 3:], 0.0)


def test_resnet34_spec_shape() -> None:
    spec = resnet34_imagenet_spec()
    assert spec[:2] == ["fc", "avg_pool"] and spec[-4:] == ["max_pool", "relu", "affine", "con"]
    assert spec.count("con") == 33 and spec.count("affine") == 33 and spec.count("relu") == 33
    assert spec.count("add_prev1") == 13 and spec.count("add_prev2") == 3
    assert spec.count("skip1") == 3 and spec.count("tag2") == 3 and spec.count("tag1") == 16
    assert spec.count("avg_pool") == 4 and len(spec) == 143
    assert dlib_resnet_spec((1, 1)).count("con") == 1 + 2 * 2


def test_preprocess_shapes_and_crop() -> None:
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, 20:60] = 200  # the central square is uniformly 200
    x = preprocess(img, size=16)
    assert x.shape == (1, 3, 16, 16)
    np.testing.assert_allclose(x.numpy(), dlib_normalize(torch.full((1, 3, 16, 16), 200.0)).numpy(), atol=1e-6)
    assert preprocess([img, img[:30]], size=8, crop_fraction=None).shape == (2, 3, 8, 8)


# ---------------------------------------------------------------------------------------------
# distillation smoke run
# ---------------------------------------------------------------------------------------------


def _feature_teacher_net(rng: np.random.Generator) -> df.DlibNet:
    """A dlib-format net with 512-d pooled features: con 3→512 (4x4/4), relu, global avg, fc."""
    con = df.Con.from_arrays(rng.standard_normal((512, 3, 4, 4)).astype(np.float32) * 0.2,
                             rng.standard_normal(512).astype(np.float32) * 0.1, 4, 0)
    fc = df.Fc.from_arrays(rng.standard_normal((512, 3)).astype(np.float32), np.zeros(3, np.float32))
    return df.DlibNet(df.InputRGBImageSized(nr=32, nc=32),
                      [con, df.Relu(), df.AvgPool(0, 0, 1, 1), fc], df.LossMulticlassLog())


def _feature_teacher(rng: np.random.Generator) -> DlibResNet:
    return DlibResNet(_feature_teacher_net(rng), ["x", "y", "z"])


@pytest.mark.parametrize("cache_views", [0, 2])
def test_distill_smoke(cache_views: int) -> None:
    rng = np.random.default_rng(4)
    teacher = _feature_teacher(rng)
    images = [rng.integers(0, 256, (int(rng.integers(40, 70)), int(rng.integers(40, 70)), 3)).astype(np.uint8)
              for _ in range(5)]
    cfg = DistillConfig(batch_size=4, teacher_size=32, student_size=32, warmup_steps=1,
                        cache_views=cache_views, teacher_batch_size=4, log_every=1)
    res = distill(teacher, images, steps=2, config=cfg)
    assert res.steps_done == 2 and len(res.history) == 2
    assert all(math.isfinite(row["loss"]) for row in res.history)
    assert res.images_per_s > 0
    assert res.cached_views == (10 if cache_views else 0)
    student = make_student()
    student.load_state_dict(res.state_dict, strict=True)
    assert not any(k.startswith("fc.") for k in res.state_dict)
    assert set(res.state_dict) == set(make_student().state_dict())


def test_distill_stream_stops_when_exhausted() -> None:
    rng = np.random.default_rng(5)
    teacher = _feature_teacher(rng)
    stream = (rng.integers(0, 256, (48, 48, 3)).astype(np.uint8) for _ in range(6))
    cfg = DistillConfig(batch_size=4, teacher_size=32, student_size=32, warmup_steps=1)
    res = distill(teacher, stream, steps=5, config=cfg)
    assert res.steps_done == 1  # 6 images = one full batch of 4


# ---------------------------------------------------------------------------------------------
# the real network (only when cached by scripts/fetch_dlib_resnet34.sh)
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not CACHED_DNN.is_file(), reason="run scripts/fetch_dlib_resnet34.sh to cache the dlib ResNet-34")
@pytest.mark.skipif(importlib.util.find_spec("skimage") is None, reason="needs scikit-image for its sample images")
def test_real_resnet34_on_chelsea_and_coffee() -> None:
    from skimage import data as skdata

    raw = CACHED_DNN.read_bytes()
    dnn = df.read_dnn_file(CACHED_DNN, spec=resnet34_imagenet_spec())
    assert df.write_net_bytes(dnn.net) + _labels_bytes(dnn.labels or []) == raw  # byte-exact writer

    model = load_dlib_resnet34(CACHED_DNN)
    x = torch.cat([preprocess(skdata.chelsea()), preprocess(skdata.coffee())])
    cat, cup = model.topk(x, 5)
    assert cat[0][0] in (281, 282, 285), cat
    assert cup[0][0] in (967, 968), cup
    with torch.no_grad():
        feats = model.features(x)
    assert feats.shape == (2, 512) and bool((feats >= 0).all())


# ---------------------------------------------------------------------------------------------
# `rtliveness pretrain`: the real console script, a small dlib-format teacher written here
# ---------------------------------------------------------------------------------------------


def _write_images(folder: Path, n: int, rng: np.random.Generator) -> None:
    import cv2

    (folder / "sub").mkdir(parents=True)
    for i in range(n):
        img = rng.integers(0, 256, (48, 64, 3)).astype(np.uint8)
        img = cv2.GaussianBlur(img, (0, 0), 1.0 + (i % 3))  # not just noise: smooth structure too
        cv2.imwrite(str(folder / ("sub" if i % 2 else "") / f"im{i:02d}.png"), img)
    (folder / "notes.txt").write_text("not an image\n")  # ignored inside a folder


@pytest.mark.slow
def test_pretrain_cli_distils_into_a_resnet18_state_dict(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("rtliveness")
    rng = np.random.default_rng(6)
    dnn = tmp_path / "teacher.dnn"
    df.write_dnn_file(dnn, _feature_teacher_net(rng), ["x", "y", "z"])
    _write_images(tmp_path / "imgs", 40, rng)
    out = tmp_path / "enc" / "encoder.pt"
    r = subprocess.run([str(exe), "pretrain", str(tmp_path / "imgs"), "--dlib", str(dnn), "--out", str(out),
                        "--steps", "40", "--batch-size", "8", "--input-size", "32", "--cache-views", "2",
                        "--lr", "0.003"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "36 images to distil on, 4 held out" in r.stderr
    sd = torch.load(out, map_location="cpu", weights_only=True)
    student = make_student()
    student.load_state_dict(sd, strict=True)  # exactly SpoofModel.encoder's keys, no fc.*
    record = json.loads(out.with_name("encoder.pt.json").read_text())
    rep = record["report"]
    assert rep["steps"] == 40 and rep["images"] == 36 and rep["cached_views"] == 72
    assert record["teacher"]["sha256"] == __import__("hashlib").sha256(dnn.read_bytes()).hexdigest()
    # distillation moves the student towards the teacher on images it never trained on
    assert rep["heldout_cos_after"] > rep["heldout_cos_before"] + 0.02, rep
    assert f"--pretrained {out}" in r.stderr

    # the state dict is what `rtliveness train --pretrained` loads
    from rtliveness.model.spoofmodel import SpoofModel
    from rtliveness.training.start import load_pretrained_encoder

    model = SpoofModel()
    load_pretrained_encoder(model, out)
    torch.testing.assert_close(model.encoder.conv1.weight, sd["conv1.weight"])

    # bad input: one line each, non-zero exit
    for args, needle in [
        (["--dlib", str(tmp_path / "missing.dnn")], "dlib network not found"),
        (["--dlib", str(dnn), "--steps", "0"], "--steps >= 1"),
    ]:
        bad = subprocess.run([str(exe), "pretrain", str(tmp_path / "imgs"), "--out", str(tmp_path / "x.pt"), *args],
                             capture_output=True, text=True, timeout=120)
        lines = [x for x in bad.stderr.splitlines() if x.strip()]
        assert bad.returncode != 0 and len(lines) == 1 and needle in lines[0], bad.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = subprocess.run([str(exe), "pretrain", str(empty), "--dlib", str(dnn), "--out", str(tmp_path / "x.pt")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "no images" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.pt").exists()
    bad = subprocess.run([str(exe), "pretrain", str(empty), "--dlib", str(tmp_path), "--out", str(tmp_path / "x.pt")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 5 and bad.stderr.strip().splitlines() == [
        f"rtliveness: error: --dlib is a folder: {tmp_path}; give the .dnn file (resnet34_1000_imagenet_classifier.dnn)"]
    # fewer than 10 images: none held out, and the record says so with null (strict JSON), not NaN
    few = tmp_path / "few"
    _write_images(few, 4, rng)
    r = subprocess.run([str(exe), "pretrain", str(few), "--dlib", str(dnn), "--out", str(tmp_path / "f.pt"), "--steps", "2",
                        "--batch-size", "2", "--input-size", "32", "--cache-views", "0"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "no image held out (fewer than 10)" in r.stderr.splitlines()[-1]
    rep = json.loads((tmp_path / "f.pt.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the record"))["report"]
    assert rep["heldout_cos_before"] is None and rep["heldout_cos_after"] is None
    assert oct((tmp_path / "f.pt.json").stat().st_mode & 0o777) == oct((tmp_path / "f.pt").stat().st_mode & 0o777)


def test_pretrain_names_a_wrong_image_path_before_it_reads_the_network(tmp_path: Path, monkeypatch) -> None:
    """Review finding: the images were looked for only after the (200 MB) dlib network was parsed."""
    from rtliveness.errors import ConfigError
    from rtliveness.training.pretrain import job

    read = []
    monkeypatch.setattr(job, "load_feature_teacher", lambda dnn: read.append(dnn))
    (tmp_path / "net.dnn").write_bytes(b"a large file, never parsed here")
    with pytest.raises(ConfigError, match=r"^image path not found: .*typo$"):
        job.pretrain_encoder([tmp_path / "typo"], tmp_path / "net.dnn", tmp_path / "enc.pt", 1, DistillConfig())
    assert read == []


def test_pretrain_next_hint_quotes_a_path_with_a_space(tmp_path: Path, monkeypatch) -> None:
    """Review finding: the 'next: rtliveness train DATA --pretrained <path>' hint broke when pasted
    for a path with a space (the shell split it in two)."""
    import shlex
    from types import SimpleNamespace

    from typer.testing import CliRunner

    import rtliveness.training.pretrain.job as job
    from rtliveness.cli import app

    out = tmp_path / "my runs" / "encoder.pt"
    monkeypatch.setattr(job, "pretrain_encoder", lambda images, dlib, out, steps, cfg, max_images=None, log=None: SimpleNamespace(
        out=Path(out), steps=steps, images=12, heldout_cos_before=None, heldout_cos_after=None))
    r = CliRunner().invoke(app, ["pretrain", str(tmp_path), "--dlib", str(tmp_path / "t.dnn"), "--out", str(out),
                                 "--steps", "3", "--input-size", "32"])
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines()[-1] == (f"encoder: {out} (3 steps on 12 images; no image held out (fewer than 10)); next: "
                                         f"rtliveness train DATA --pretrained '{out}' --input-size 32")
    assert shlex.split(r.stderr.splitlines()[-1].split("next: ")[1])[4] == str(out)
