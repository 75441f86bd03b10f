"""The one preprocessing of every backend and of training: BGR uint8 crops → normalised NCHW."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import functional as TF

from rtliveness.model.backends import preprocess_crops
from rtliveness.model.checkpoint import ModelMeta


def per_pixel(crops, meta):
    """The arithmetic written out per pixel (the table must reproduce it bit for bit)."""
    x = np.stack(crops).astype(np.float32) * np.float32(1.0 / 255.0)
    if meta.color_order == "RGB":
        x = x[..., ::-1]
    x = (x - np.asarray(meta.mean, np.float32)) / np.asarray(meta.std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("meta", [ModelMeta(), ModelMeta(color_order="BGR", mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.25))])
def test_preprocessing_is_exactly_the_per_pixel_arithmetic(meta):
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (20, 20, 3), dtype=np.uint8) for _ in range(3)]
    crops[0][0, 0] = (0, 128, 255)
    got = preprocess_crops(crops, meta)
    assert got.dtype == np.float32 and got.shape == (3, 3, 20, 20) and got.flags.c_contiguous
    assert np.array_equal(got, per_pixel(crops, meta))
    order = (2, 1, 0) if meta.color_order == "RGB" else (0, 1, 2)
    expect = [(v / 255.0 - meta.mean[c]) / meta.std[c] for c, v in enumerate(np.array([0, 128, 255])[list(order)])]
    np.testing.assert_allclose(got[0, :, 0, 0], expect, rtol=1e-6)


def test_preprocessing_matches_torchvision_totensor_normalize():
    meta = ModelMeta()
    crop = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    ref = TF.normalize(TF.to_tensor(crop[..., ::-1].copy()), list(meta.mean), list(meta.std))
    torch.testing.assert_close(torch.from_numpy(preprocess_crops([crop], meta)[0]), ref, atol=1e-6, rtol=0)
