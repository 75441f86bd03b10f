"""The MiniFASNet teacher: architecture vs the checkpoint format, loader, crop rule, box mapping.

Everything but the last test runs without the teacher files (random weights saved in the
teacher's exact format). The last test loads the real teacher from /work/shared when present.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rtliveness.errors import WeightsError
from rtliveness.training.teachers.minifasnet import (
    CROP_INTERPOLATION,
    DETECTOR_CAFFEMODEL,
    DETECTOR_PROTOTXT,
    MTCNN_TO_RETINAFACE,
    V1SE_FILE,
    V2_FILE,
    BoxMapping,
    MiniFASNet,
    MiniFASNetV1SE,
    MiniFASNetV2,
    MiniFasTeacher,
    load_minifasnet,
    teacher_box_from_mtcnn,
    teacher_crop,
    teacher_region,
)

TEACHER_DIR = Path("/work/shared/teachers/minifasnet")
NUAA = Path("/work/shared/data/nuaa")


def _randomised(net: MiniFASNet, seed: int) -> MiniFASNet:
    """``net`` with random weights *and* random BN statistics, so a loader that dropped any
    tensor would change the outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen))
            else:
                t.copy_(0.1 * torch.randn(t.shape, generator=gen))
    return net.eval()


def _save_teacher_format(net: MiniFASNet, path: Path) -> None:
    """Save like the Silent-Face checkpoints: a plain OrderedDict of tensors, ``module.`` keys."""
    torch.save(OrderedDict(("module." + k, v.clone()) for k, v in net.state_dict().items()), path)


def write_fake_teacher(folder: Path) -> Path:
    """``folder`` holding only the teacher's two networks (random weights, teacher format)."""
    _save_teacher_format(_randomised(MiniFASNetV2(), 1), folder / V2_FILE)
    _save_teacher_format(_randomised(MiniFASNetV1SE(), 2), folder / V1SE_FILE)
    return folder


@pytest.fixture(scope="module")
def fake_teacher_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A teacher folder holding only the two networks (random weights, teacher format)."""
    torch.set_num_threads(1)
    return write_fake_teacher(tmp_path_factory.mktemp("minifasnet"))


@pytest.mark.parametrize("arch, tensors", [(MiniFASNetV2, 334), (MiniFASNetV1SE, 370)])
def test_state_dict_layout_matches_the_teacher_checkpoints(arch: type[MiniFASNet], tensors: int) -> None:
    sd = arch().state_dict()
    assert len(sd) == tensors  # the counts of the published checkpoints
    assert sd["conv_6_dw.conv.weight"].shape == (512, 1, 5, 5)  # (80 + 15) // 16 for 80x80 input
    assert sd["conv2_dw.conv.weight"].shape == (32, 1, 3, 3)
    assert sd["prob.weight"].shape == (3, 128)
    has_se = any("se_module" in k for k in sd)
    assert has_se == (arch is MiniFASNetV1SE)
    if has_se:
        assert sd["conv_3.model.3.se_module.fc1.weight"].shape == (16, 64, 1, 1)
        assert sd["conv_4.model.5.se_module.fc2.weight"].shape == (128, 32, 1, 1)


@pytest.mark.parametrize("arch, name", [(MiniFASNetV2, V2_FILE), (MiniFASNetV1SE, V1SE_FILE)])
def test_loader_round_trips_the_teacher_format(tmp_path: Path, arch: type[MiniFASNet], name: str) -> None:
    torch.set_num_threads(1)
    original = _randomised(arch(), 7)
    _save_teacher_format(original, tmp_path / name)
    loaded = load_minifasnet(tmp_path / name, arch)
    assert not loaded.training
    assert all(not p.requires_grad for p in loaded.parameters())
    x = torch.rand(4, 3, 80, 80) * 255.0
    with torch.no_grad():
        out = loaded(x)
        assert out.shape == (4, 3)
        assert torch.allclose(out, original(x))
        assert torch.allclose(loaded.fused()(x), out, rtol=1e-4, atol=1e-4)


def test_loader_rejects_the_wrong_architecture_and_bad_files(tmp_path: Path) -> None:
    _save_teacher_format(_randomised(MiniFASNetV2(), 3), tmp_path / "v2.pth")
    with pytest.raises(WeightsError, match="does not fit MiniFASNetV1SE"):
        load_minifasnet(tmp_path / "v2.pth", MiniFASNetV1SE)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        load_minifasnet(tmp_path / "junk.pth", MiniFASNetV2)
    with pytest.raises(WeightsError, match="not found"):
        load_minifasnet(tmp_path / "absent.pth", MiniFASNetV2)


def test_from_dir_names_the_folder_and_what_is_missing(tmp_path: Path, fake_teacher_dir: Path) -> None:
    absent = tmp_path / "nowhere"
    with pytest.raises(WeightsError) as err:
        MiniFasTeacher.from_dir(absent)
    msg = str(err.value)
    assert str(absent) in msg and "does not exist" in msg and V2_FILE in msg and "\n" not in msg

    with pytest.raises(WeightsError) as err:
        MiniFasTeacher.from_dir(fake_teacher_dir)  # the detector files are not there
    msg = str(err.value)
    assert str(fake_teacher_dir) in msg and DETECTOR_PROTOTXT in msg and DETECTOR_CAFFEMODEL in msg
    assert V2_FILE not in msg and "\n" not in msg

    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / V2_FILE).write_bytes((fake_teacher_dir / V2_FILE).read_bytes())
    with pytest.raises(WeightsError, match=f"lacks {V1SE_FILE}"):
        MiniFasTeacher.from_dir(partial, detector=False)


@pytest.mark.parametrize(
    "frame, box, scale, expected",
    [
        ((640, 480), (270, 190, 100, 100), 2.7, (185, 105, 455, 375)),  # inside: centred, 270 wide
        ((640, 480), (10, 20, 100, 100), 2.7, (0, 0, 270, 270)),  # past left/top: shifted right/down
        ((640, 480), (600, 440, 40, 40), 2.7, (531, 371, 639, 479)),  # past right/bottom: shifted back
        ((200, 100), (50, 20, 80, 60), 4.0, (24, 0, 156, 99)),  # too tall: scale shrinks to 99/60
        ((100, 300), (10, 100, 80, 50), 2.7, (0, 94, 99, 155)),  # too wide: scale shrinks to 99/80
    ],
)
def test_teacher_region_hand_computed(frame: tuple[int, int], box: tuple[float, ...], scale: float,
                                      expected: tuple[int, int, int, int]) -> None:
    assert teacher_region(frame[0], frame[1], box, scale) == expected


def test_teacher_crop_cuts_the_region_inclusive_and_resizes() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    crop = teacher_crop(image, (600, 440, 40, 40), 2.7)
    assert crop.shape == (80, 80, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, cv2.resize(image[371:480, 531:640], (80, 80)))
    with pytest.raises(ValueError):
        teacher_region(640, 480, (10, 10, 0, 20), 2.7)


def test_teacher_box_from_mtcnn() -> None:
    identity = BoxMapping(width=1.0, height=1.0, dx=0.0, dy=0.0)
    assert teacher_box_from_mtcnn((100, 50, 180, 150), identity) == pytest.approx((90, 50, 100, 100))
    m = MTCNN_TO_RETINAFACE
    x, y, w, h = teacher_box_from_mtcnn((100, 50, 180, 150))
    assert (w, h) == pytest.approx((100 * m.width, 100 * m.height))
    assert (x + w / 2, y + h / 2) == pytest.approx((140 + 100 * m.dx, 100 + 100 * m.dy))


def test_scoring_with_random_weights(fake_teacher_dir: Path) -> None:
    teacher = MiniFasTeacher.from_dir(fake_teacher_dir, detector=False)
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    p = teacher.score_frame(frame, (120, 80, 60, 70))
    assert p is not None and 0.0 <= p <= 1.0
    assert teacher.score_frames_batch([frame, frame], [(120, 80, 60, 70), (0, 0, 50, 50)])[0] == pytest.approx(p)
    with pytest.raises(WeightsError, match="without its detector"):
        teacher.score_frame(frame)

    # A 2.7x stored crop is too narrow for V1SE's 4.0x region; a 4.5x one holds it.
    assert not teacher.uses_v1se(2.7)
    assert teacher.uses_v1se(4.5)
    crops = [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(3)]
    batch = teacher.score_crops_batch(crops, 2.7)
    assert batch.shape == (3,) and np.all((batch >= 0) & (batch <= 1))
    assert teacher.score_crop(crops[1], 2.7) == pytest.approx(batch[1])
    v2_input = teacher_crop(crops[0], teacher.crop_box(224, 2.7), 2.7, interpolation=CROP_INTERPOLATION)
    v2_only = 1.0 - teacher.live_probs(teacher.v2, [v2_input])[0]
    assert batch[0] == pytest.approx(v2_only)
    assert teacher.score_crops_batch(crops, 4.5).shape == (3,)


def test_scoring_restores_the_callers_thread_count(fake_teacher_dir: Path) -> None:
    teacher = MiniFasTeacher.from_dir(fake_teacher_dir, detector=False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        teacher.score_crop(np.zeros((64, 64, 3), np.uint8), 2.7)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def _square_crop(image: np.ndarray, box_x1y1x2y2: np.ndarray, scale: float, size: int) -> np.ndarray:
    """The project's stored-crop geometry: a square of ``scale`` x the box's longer side centred
    on the box, edge-replicated past the frame, resized to ``size`` (area-averaged)."""
    x1, y1, x2, y2 = (float(v) for v in box_x1y1x2y2)
    side = scale * max(x2 - x1, y2 - y1)
    left, top = int(np.floor((x1 + x2 - side) / 2)), int(np.floor((y1 + y2 - side) / 2))
    n = int(round(side))
    pad = n + 1
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    square = padded[top + pad:top + pad + n, left + pad:left + pad + n]
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)


@pytest.mark.skipif(not (TEACHER_DIR / V2_FILE).is_file() or not NUAA.is_dir(),
                    reason="needs the MiniFASNet teacher files and NUAA in /work/shared")
def test_real_teacher_on_nuaa() -> None:
    """Frames checked by hand: a live webcam face and a printed photo of the same person, scored
    on the full frame (teacher detector) and from a 2.7x MTCNN crop at 224 px (score_crop)."""
    from facenet_pytorch import MTCNN

    teacher = MiniFasTeacher.from_dir(TEACHER_DIR)
    live = cv2.imread(str(NUAA / "ClientRaw/0001/0001_00_00_01_365.jpg"))
    printed = cv2.imread(str(NUAA / "ImposterRaw/0001/0001_00_00_01_166.jpg"))
    assert live is not None and printed is not None
    p_live, p_printed = teacher.score_frame(live), teacher.score_frame(printed)
    assert p_live is not None and p_live < 0.2
    assert p_printed is not None and p_printed > 0.8
    assert teacher.score_frame(np.zeros((480, 640, 3), np.uint8)) is None  # no face

    mtcnn = MTCNN(keep_all=True, device="cpu", min_face_size=60, factor=0.6, thresholds=[0.6, 0.7, 0.7])
    crops = []
    for frame in (live, printed):
        boxes, _ = mtcnn.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        assert boxes is not None
        crops.append(_square_crop(frame, boxes[0], 2.7, 224))
    p_crop_live, p_crop_printed = teacher.score_crops_batch(crops, 2.7)
    assert p_crop_live < 0.2 and p_crop_printed > 0.8


def test_embeddings_are_the_classifiers_input(fake_teacher_dir: Path) -> None:
    """embed_crops_batch gives V2's 128-d embedding of the same region score_crops_batch scores:
    V2's classifier on it gives exactly V2's live probability (fused copy included)."""
    teacher = MiniFasTeacher.from_dir(fake_teacher_dir, detector=False)
    rng = np.random.default_rng(3)
    crops = [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(3)]
    emb = teacher.embed_crops_batch(crops, 2.7)
    assert emb.shape == (3, 128) and emb.dtype == np.float32
    live = torch.softmax(teacher.v2.prob(torch.from_numpy(emb)).double(), dim=1)[:, 1].numpy()
    np.testing.assert_allclose(1.0 - live, teacher.score_crops_batch(crops, 2.7), atol=1e-6)
    raw = load_minifasnet(fake_teacher_dir / V2_FILE, MiniFASNetV2)  # the unfused network agrees
    x = torch.from_numpy(np.stack([teacher._crop_inputs(c, 2.7, False)[0] for c in crops]).transpose(0, 3, 1, 2).astype(np.float32))
    with torch.no_grad():
        np.testing.assert_allclose(raw.embed(x).numpy(), emb, rtol=1e-4, atol=1e-4)
        assert torch.equal(raw(x), raw.prob(raw.embed(x)))
    assert teacher.embed_crops_batch([], 2.7).shape == (0, 128)
