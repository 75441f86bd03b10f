"""MixStyle at training time (rtliveness.training.mixstyle): exact statistics, window-consistent
partners, training mode only, no parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtliveness.errors import ConfigError
from rtliveness.model.spoofmodel import SpoofModel
from rtliveness.training.mixstyle import MixStyle, mix_styles
from rtliveness.training.train import TrainConfig


def _stats(x):
    return x.mean(dim=(2, 3)), x.std(dim=(2, 3), unbiased=False)


def _features(b=3, window=2, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b * window, c, 6, 6, generator=g)
    # a different mean and spread for every crop and channel
    return x * torch.rand(b * window, c, 1, 1, generator=g).mul(3).add(0.5) + torch.randn(b * window, c, 1, 1, generator=g) * 4


def test_weight_one_keeps_each_crop_and_weight_zero_takes_the_partners_statistics():
    x = _features()
    perm = torch.tensor([2, 0, 1])
    same = mix_styles(x, 2, torch.ones(3), perm)
    assert torch.allclose(same, x, atol=1e-4)
    swapped = mix_styles(x, 2, torch.zeros(3), perm)
    mu, sd = _stats(x)
    mu2, sd2 = _stats(swapped)
    # crop j of window i now has the statistics of crop j of window perm[i]
    idx = [4, 5, 0, 1, 2, 3]
    assert torch.allclose(mu2, mu[idx], atol=1e-4) and torch.allclose(sd2, sd[idx], atol=1e-3)
    # ... and keeps its own normalised content
    norm = (x - mu[..., None, None]) / sd[..., None, None]
    norm2 = (swapped - mu2[..., None, None]) / sd2[..., None, None]
    assert torch.allclose(norm, norm2, atol=1e-3)


def test_mixed_statistics_are_the_convex_mix_per_window():
    x = _features()
    lam = torch.tensor([0.25, 0.5, 0.9])
    perm = torch.tensor([1, 2, 0])
    out = mix_styles(x, 2, lam, perm)
    mu, sd = _stats(x)
    mu2, sd2 = _stats(out)
    idx = [2, 3, 4, 5, 0, 1]
    lam_c = lam.repeat_interleave(2)[:, None]
    assert torch.allclose(mu2, lam_c * mu + (1 - lam_c) * mu[idx], atol=1e-4)
    assert torch.allclose(sd2, lam_c * sd + (1 - lam_c) * sd[idx], atol=1e-3)


def test_hooks_mix_in_training_mode_only_and_add_no_parameters():
    torch.manual_seed(0)
    model = SpoofModel()
    keys = list(model.state_dict())
    x = torch.randn(4 * 5, 3, 32, 32)
    model.train()
    with torch.no_grad():
        plain = model.encoder(x)
    mixer = MixStyle(model.encoder, p=1.0, window=5)
    assert mixer.draw(np.random.default_rng(0), 4)
    with torch.no_grad():
        mixed = model.encoder(x)
        assert not torch.allclose(plain, mixed, atol=1e-3)
        assert mixer.draw(np.random.default_rng(0), 4)
        assert torch.equal(model.encoder(x), mixed)  # same draw, same result
        model.eval()
        ev = model.encoder(x)  # hooks on, but inference never mixes
        mixer.remove()
        assert torch.equal(model.encoder(x), ev)
        model.train()
        assert torch.allclose(model.encoder(x), plain)  # hooks gone
    assert list(model.state_dict()) == keys


def test_probability_zero_never_mixes_and_bad_values_are_rejected():
    model = SpoofModel()
    mixer = MixStyle(model.encoder, p=0.0, window=5)
    rng = np.random.default_rng(1)
    assert not any(mixer.draw(rng, 8) for _ in range(50)) and mixer.mixed_batches == 0
    half = MixStyle(model.encoder, p=0.5, window=5)
    n = sum(half.draw(rng, 8) for _ in range(400))
    assert 160 < n < 240
    assert not half.draw(rng, 1)  # one window has no partner
    with pytest.raises(ValueError):
        MixStyle(model.encoder, p=1.5, window=5)
    with pytest.raises(ConfigError, match="MixStyle probability"):
        TrainConfig(mixstyle=-0.1)
    # with a frozen encoder it would do nothing (it was silently skipped): refused in one line
    with pytest.raises(ConfigError, match=r"with a frozen encoder \(--encoder-lr-mult 0\) it does nothing; drop --mixstyle"):
        TrainConfig(mixstyle=0.5, encoder_lr_mult=0.0)
    assert TrainConfig(mixstyle=0.5, encoder_lr_mult=0.1).mixstyle == 0.5


def test_two_views_of_a_window_get_the_same_weight_and_the_same_view_of_the_same_partner():
    model = SpoofModel()
    mixer = MixStyle(model.encoder, p=1.0, window=5)
    assert mixer.draw(np.random.default_rng(7), 6)
    lam1, perm1 = mixer._draw
    assert mixer.draw(np.random.default_rng(7), 6, views=2)
    lam2, perm2 = mixer._draw
    assert torch.equal(lam2, torch.cat([lam1, lam1]))  # one draw for the 6 windows, as with one view
    assert torch.equal(perm2, torch.cat([perm1, perm1 + 6]))  # view 2 mixes with view 2 of the same partner
