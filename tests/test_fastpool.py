"""MTCNN's max pools in channels-last on the CPU (DetectorConfig.fast_pools): exactly the pools
facenet-pytorch ships, in the layout they were given, and the same boxes on real faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from rtliveness.config import DetectorConfig
from rtliveness.errors import ConfigError
from rtliveness.runtime.detect import MtcnnDetector
from rtliveness.runtime.fastpool import ChannelsLastMaxPool, channels_last_pools
from rtliveness.runtime.sources import FileSource

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("shape,kernel,stride", [((7, 28, 22, 22), 3, 2), ((50, 32, 46, 46), 3, 2),
                                                 ((3, 64, 9, 9), 2, 2), ((1, 10, 47, 61), 2, 2)])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_the_pool_is_exact_and_keeps_the_layout_it_was_given(shape, kernel, stride, layout):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).contiguous(memory_format=layout)
    ref = nn.MaxPool2d(kernel, stride, ceil_mode=True)(x)
    got = ChannelsLastMaxPool(kernel, stride, ceil_mode=True)(x)
    assert torch.equal(got, ref)
    assert got.is_contiguous(memory_format=layout)
    assert got.stride() == ref.stride()


def test_pools_that_return_indices_fall_back_to_torch():
    x = torch.randn(2, 3, 9, 9)
    out, idx = ChannelsLastMaxPool(3, 2, return_indices=True, ceil_mode=True)(x)
    ref, ref_idx = nn.MaxPool2d(3, 2, return_indices=True, ceil_mode=True)(x)
    assert torch.equal(out, ref) and torch.equal(idx, ref_idx)


def test_every_pool_of_the_three_networks_is_swapped_on_the_cpu_only_when_asked():
    fast = MtcnnDetector(DetectorConfig(), device="cpu")._mtcnn
    plain = MtcnnDetector(DetectorConfig(fast_pools=False), device="cpu")._mtcnn
    count = {name: sum(isinstance(m, nn.MaxPool2d) for m in getattr(fast, name).modules()) for name in ("pnet", "rnet", "onet")}
    assert count == {"pnet": 1, "rnet": 2, "onet": 3}
    assert all(type(m) is ChannelsLastMaxPool for net in (fast.pnet, fast.rnet, fast.onet)
               for m in net.modules() if isinstance(m, nn.MaxPool2d))
    assert not any(isinstance(m, ChannelsLastMaxPool) for m in plain.modules())
    assert channels_last_pools(fast.onet) == 0  # nothing left to swap


def test_fast_pools_must_be_a_boolean():
    with pytest.raises(ConfigError, match="fast_pools must be true or false"):
        DetectorConfig(fast_pools="yes")


def _frames():
    out = []
    with FileSource(ROOT / "tests" / "data" / "talking_head.mov") as src:
        for i, frame in enumerate(src):
            if i % 15 == 0:
                out.append(frame.image_bgr)
            if len(out) == 6:
                break
    two = cv2.imread(str(ROOT / "tests" / "data" / "two_faces.jpg"))
    return out + [two]


def test_real_mtcnn_finds_the_very_same_boxes_with_fast_pools():
    frames = _frames()
    fast = MtcnnDetector(DetectorConfig(), device="cpu")
    plain = MtcnnDetector(DetectorConfig(fast_pools=False), device="cpu")
    got = [fast.detect(f) for f in frames]
    assert got == [plain.detect(f) for f in frames]  # bit for bit: same coordinates, same scores
    assert sum(len(b) for b in got) >= len(frames) + 1  # a face on every frame, two on the photo
    # the batched region scan too (the pools see channels-last P-Net maps and NCHW R/O-Net batches)
    regions = [f[40:260, 60:300] for f in frames[:4]]
    batched = fast.detect_images(regions, 40)
    assert [len(b) for b in batched] == [1, 1, 1, 1]
    assert batched == plain.detect_images(regions, 40)
