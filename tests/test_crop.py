"""The one serving crop (``crop_face``) and the narrowing of stored wide crops to the model's scale
(``center_rescale``), checked on real images against crops made directly."""

import cv2
import numpy as np
import pytest

from rtliveness.runtime.crop import center_rescale, crop_face, square_region
from rtliveness.training.data import Sample, load_windows
from rtliveness.types import FaceBox


def mad(a, b) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


@pytest.fixture(scope="module")
def scene(grace, two_faces):
    """Real images with a face-sized box near the middle, so a 2.7x crop stays inside."""
    out = []
    for img in (grace, two_faces):
        h, w = img.shape[:2]
        out.append((img, FaceBox(w / 2 - 60, h / 2 - 70, w / 2 + 60, h / 2 + 70)))
    return out


@pytest.mark.parametrize("to_scale,size", [(1.5, 112), (2.0, 64), (1.2, 96)])
def test_center_rescale_matches_a_crop_made_at_the_narrow_scale(scene, to_scale, size):
    """A stored 2.7x, 224 px crop narrowed to ``to_scale`` equals the serving crop made at
    ``to_scale`` directly (up to resampling); a 5 % error in scale or a 3 px shift does not."""
    for img, box in scene:
        stored = crop_face(img, box, 2.7, 224)
        narrowed = center_rescale(stored, 2.7, to_scale, size)
        assert narrowed.shape == (size, size, 3) and narrowed.dtype == np.uint8
        direct = crop_face(img, box, to_scale, size)
        err = mad(narrowed, direct)
        assert err < 4.0, err
        for wrong in (crop_face(img, box, to_scale * 1.05, size), crop_face(img, box, to_scale * 0.95, size),
                      crop_face(img, FaceBox(box.x1 + 3, box.y1, box.x2 + 3, box.y2), to_scale, size)):
            assert mad(narrowed, wrong) > 2 * err + 2


def test_center_rescale_at_the_same_scale_is_a_resize_and_never_widens(grace):
    crop = crop_face(grace, FaceBox(200, 180, 320, 320), 2.7, 224)
    same = center_rescale(crop, 2.7, 2.7, 112)
    np.testing.assert_array_equal(same, cv2.resize(crop, (112, 112), interpolation=cv2.INTER_AREA))
    with pytest.raises(ValueError, match="cannot widen"):
        center_rescale(crop, 1.5, 2.7, 112)


def test_training_loads_stored_crops_narrowed_by_center_rescale(tmp_path, scene):
    """``load_windows`` (training, eval, calibrate) narrows a dataset's wide crops with the same
    function, so training sees what ``run`` crops."""
    img, box = scene[0]
    d = tmp_path / "real" / "real_p0_00000"
    d.mkdir(parents=True)
    paths = []
    for j in range(5):
        b = FaceBox(box.x1 + 2 * j, box.y1, box.x2 + 2 * j, box.y2)
        cv2.imwrite(str(d / f"{j}.png"), crop_face(img, b, 2.7, 224))
        paths.append(d / f"{j}.png")
    sample = Sample("real/real_p0_00000", "real", tuple(paths), "p0")
    win = load_windows([sample], 112, 1.5, 2.7)
    assert win.shape == (1, 5, 112, 112, 3)
    for j in range(5):
        np.testing.assert_array_equal(win[0, j], center_rescale(cv2.imread(str(paths[j])), 2.7, 1.5, 112))
        b = FaceBox(box.x1 + 2 * j, box.y1, box.x2 + 2 * j, box.y2)
        assert mad(win[0, j], crop_face(img, b, 1.5, 112)) < 4.0
    # without a stored scale the crops are used as they are (resized)
    plain = load_windows([sample], 112, 1.5, None)
    np.testing.assert_array_equal(plain[0, 0], cv2.resize(cv2.imread(str(paths[0])), (112, 112), interpolation=cv2.INTER_AREA))


def test_square_region_and_padding_inside_vs_outside(grace):
    box = FaceBox(10, 20, 110, 100)  # 100 x 80: the square follows the longer side
    assert square_region(box, 1.5) == (-15, -15, 135, 135)
    assert square_region(FaceBox(10, 20, 90, 120), 1.5) == (-25, -5, 125, 145)  # taller than wide: the height
    assert square_region(FaceBox(10.6, 20.4, 50.6, 60.4), 1.0) == (10, 20, 50, 60)  # fractional edges: floor
    crop = crop_face(grace, box, 1.5, 150)  # no resampling: 150 px region to 150 px
    np.testing.assert_array_equal(crop[15:, 15:], grace[0:135, 0:135])
    np.testing.assert_array_equal(crop[:15, 15:], np.repeat(grace[0:1, 0:135], 15, axis=0))  # replicated top row
