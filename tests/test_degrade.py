"""Label-neutral camera degradations (rtliveness.training.degrade): each kind does what it says,
parameters are shared by the five crops of a window, draws are seeded, rates ignore the label."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rtliveness.errors import ConfigError
from rtliveness.training.degrade import CONDITIONS, KINDS, Degradation, apply, apply_batch, draw
from rtliveness.training.train import TrainConfig

S = 64


def _crop(seed: int = 0) -> np.ndarray:
    """A textured mid-grey crop with a bright square (edges and fine detail to lose)."""
    g = np.random.default_rng(seed)
    img = np.clip(128 + g.normal(0, 30, (S, S, 3)), 0, 255).astype(np.uint8)
    img[16:48, 16:48] = 220
    return img


def _detail(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F).var())


def test_neutral_degradation_is_the_identity():
    c = _crop()
    d = Degradation()
    assert d.kinds == ()
    assert np.array_equal(apply(c, d, np.random.default_rng(0)), c)


def test_each_condition_changes_the_crop_the_way_it_names():
    c = _crop()
    rng = np.random.default_rng(1)
    out = {name: apply(c, d, rng) for name, d in CONDITIONS.items()}
    assert CONDITIONS["dim"].kinds == ("lowlight",)
    # dim light: about light ** (1 / 2.2) of the brightness (0.4 -> 0.66) ...
    assert out["dim"].mean() / c.mean() == pytest.approx(0.4 ** (1 / 2.2), abs=0.04)
    # ... a dark room (0.15) with 4x auto gain: net 0.6 in linear light, brighter than dim, noisier flat areas
    assert out["dim"].mean() < out["dark_gain"].mean() < 0.9 * c.mean()
    assert out["dark_gain"][20:44, 20:44].std() > c[20:44, 20:44].std() + 2
    for name in ("blur", "lowres"):  # fine detail is lost
        assert _detail(out[name]) < 0.3 * _detail(c), name
    assert np.abs(out["jpeg"].astype(int) - c).mean() > 3
    # warm white balance: red up, blue down
    m, m0 = out["warm_wb"].reshape(-1, 3).mean(0), c.reshape(-1, 3).mean(0)
    assert m[2] > m0[2] + 10 and m[0] < m0[0] - 10
    # roll: the bright square's corners move, the centre stays
    assert out["roll"][32, 32].tolist() == c[32, 32].tolist()
    assert np.abs(out["roll"].astype(int) - c).mean() > 5
    # grey camera: OpenCV's grey level in all three channels; never drawn for training windows
    assert CONDITIONS["gray"].kinds == ("gray",)
    assert np.array_equal(out["gray"], np.repeat(cv2.cvtColor(c, cv2.COLOR_BGR2GRAY)[..., None], 3, axis=2))
    assert all(not draw(np.random.default_rng([5, i])).gray for i in range(200))
    for name, img in out.items():
        assert img.shape == c.shape and img.dtype == np.uint8, name


def test_draw_is_seeded_and_never_empty():
    a = [draw(np.random.default_rng([3, i])) for i in range(200)]
    b = [draw(np.random.default_rng([3, i])) for i in range(200)]
    assert a == b
    assert all(d.kinds for d in a)
    seen = {k for d in a for k in d.kinds}
    assert seen == set(KINDS)
    # each kind on about `share` of the time (0.4, plus the forced one when none came up)
    for k in KINDS:
        share = sum(k in d.kinds for d in a) / len(a)
        assert 0.25 < share < 0.6, (k, share)


def test_apply_batch_shares_parameters_across_a_window_and_ignores_labels():
    base = _crop(5)
    windows = np.stack([np.stack([base] * 5)] * 400)  # 400 identical windows of 5 identical crops
    out, hit = apply_batch(windows, share=0.4, p=0.5, rng=np.random.default_rng(7))
    assert 160 < hit < 240  # about p of the windows
    changed = [i for i in range(len(out)) if not np.array_equal(out[i], windows[i])]
    assert len(changed) == hit
    assert np.array_equal(windows[0, 0], base)  # the input is not modified
    for i in changed[:40]:
        w = out[i].astype(int)
        # same geometry and light for the 5 crops: they differ by sensor noise (and its JPEG) only,
        # which averages out over a quarter of the crop
        blocks = w.reshape(5, 2, 32, 2, 32, 3).mean(axis=(2, 4))
        assert np.abs(blocks - blocks[0]).max() < 6
    # the decision depends on the generator only, never on which windows are attacks
    again, hit2 = apply_batch(windows, share=0.4, p=0.5, rng=np.random.default_rng(7))
    assert hit2 == hit and np.array_equal(again, out)


def test_train_config_checks_the_probability():
    with pytest.raises(ConfigError, match="degradation probability"):
        TrainConfig(degrade=1.5)


def test_whole_frames_keep_their_shape():
    """Deployed-loop checks degrade whole (non-square) frames before detection."""
    frame = np.random.default_rng(2).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    for name, d in CONDITIONS.items():
        out = apply(frame, d, np.random.default_rng(0))
        assert out.shape == frame.shape and out.dtype == np.uint8, name
    dark = apply(frame, CONDITIONS["dark"], None)  # no generator: no sensor noise, exactly the light curve
    expect = np.clip(np.power(np.power(frame / 255.0, 2.2) * 0.12, 1 / 2.2) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(dark.astype(int) - expect).max() <= 1
