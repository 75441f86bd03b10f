"""MTCNN in channels-last on the CPU (DetectorConfig.channels_last): pools exactly as
facenet-pytorch's, in the layout they were given; R-/O-Net channels-last; the same faces, with
boxes equal up to float rounding, on real faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import torch
from torch import nn

from rtliveness.config import DetectorConfig
from rtliveness.errors import ConfigError
from rtliveness.runtime.detect import MtcnnDetector
from rtliveness.runtime.fastpool import ChannelsLastMaxPool, channels_last_mtcnn, channels_last_pools
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


def test_every_pool_is_swapped_and_r_o_net_are_channels_last_on_the_cpu_only_when_asked():
    fast = MtcnnDetector(DetectorConfig(), device="cpu")._mtcnn
    plain = MtcnnDetector(DetectorConfig(channels_last=False), device="cpu")._mtcnn
    count = {name: sum(isinstance(m, nn.MaxPool2d) for m in getattr(fast, name).modules()) for name in ("pnet", "rnet", "onet")}
    assert count == {"pnet": 1, "rnet": 2, "onet": 3}
    assert all(type(m) is ChannelsLastMaxPool for net in (fast.pnet, fast.rnet, fast.onet)
               for m in net.modules() if isinstance(m, nn.MaxPool2d))
    assert not any(isinstance(m, ChannelsLastMaxPool) for m in plain.modules())
    assert channels_last_pools(fast.onet) == 0  # nothing left to swap
    assert fast.onet.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert fast.rnet.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert plain.onet.conv1.weight.is_contiguous() and not plain.onet.conv1.weight.is_contiguous(
        memory_format=torch.channels_last)


def test_channels_last_networks_compute_what_facenet_computes():
    fast = MtcnnDetector(DetectorConfig(), device="cpu")._mtcnn
    plain = MtcnnDetector(DetectorConfig(channels_last=False), device="cpu")._mtcnn
    x24 = torch.rand(17, 3, 24, 24, generator=torch.Generator().manual_seed(1)) * 2 - 1
    x48 = torch.rand(9, 3, 48, 48, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        for a, b in ((fast.rnet(x24), plain.rnet(x24)), (fast.onet(x48), plain.onet(x48))):
            for u, v in zip(a, b):
                torch.testing.assert_close(u, v, rtol=0, atol=1e-5)


def test_channels_last_mtcnn_is_idempotent():
    m = MtcnnDetector(DetectorConfig(channels_last=False), device="cpu")._mtcnn
    channels_last_mtcnn(m)
    channels_last_mtcnn(m)
    assert sum(isinstance(x, ChannelsLastMaxPool) for x in m.modules()) == 6

def test_channels_last_must_be_a_boolean():
    with pytest.raises(ConfigError, match="channels_last must be true or false"):
        DetectorConfig(channels_last="yes")


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


def same_boxes(a, b, px=1e-3):
    assert [len(x) for x in a] == [len(x) for x in b]
    for xs, ys in zip(a, b):
        for x, y in zip(xs, ys):
            assert max(abs(x.x1 - y.x1), abs(x.y1 - y.y1), abs(x.x2 - y.x2), abs(x.y2 - y.y2)) <= px
            assert abs(x.score - y.score) <= 1e-5


def test_pools_alone_give_the_very_same_boxes_on_real_faces():
    frames = _frames()
    plain = MtcnnDetector(DetectorConfig(channels_last=False), device="cpu")
    pools = MtcnnDetector(DetectorConfig(channels_last=False), device="cpu")
    for net in (pools._mtcnn.pnet, pools._mtcnn.rnet, pools._mtcnn.onet):
        channels_last_pools(net)
    got = [pools.detect(f) for f in frames]
    assert got == [plain.detect(f) for f in frames]  # bit for bit: same coordinates, same scores
    assert sum(len(b) for b in got) >= len(frames) + 1  # a face on every frame, two on the photo


def test_real_mtcnn_finds_the_same_faces_channels_last():
    frames = _frames()
    fast = MtcnnDetector(DetectorConfig(), device="cpu")
    plain = MtcnnDetector(DetectorConfig(channels_last=False), device="cpu")
    got = [fast.detect(f) for f in frames]
    same_boxes(got, [plain.detect(f) for f in frames])
    assert sum(len(b) for b in got) >= len(frames) + 1
    # the batched region scan too
    regions = [f[40:260, 60:300] for f in frames[:4]]
    batched = fast.detect_images(regions, 40)
    assert [len(b) for b in batched] == [1, 1, 1, 1]
    same_boxes(batched, plain.detect_images(regions, 40))
