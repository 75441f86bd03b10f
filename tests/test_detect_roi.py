"""Detection in the regions around the open tracks (DetectorConfig.full_every / roi_margin)."""

from __future__ import annotations

import numpy as np
import pytest

from rtliveness.config import DetectorConfig
from rtliveness.errors import ConfigError
from rtliveness.runtime.pipeline import LivenessPipeline, roi_regions
from rtliveness.types import FaceBox
from tests.conftest import FakeScorer


def B(x, y, s=100):
    return FaceBox(x, y, x + s, y + s, 0.99)


class SceneDetector:
    """Finds the scene's faces that lie wholly inside the region it is given (or the frame)."""

    def __init__(self, faces_per_call):
        self.faces_per_call = faces_per_call  # callable: frame number -> faces in that frame
        self.frame = 0
        self.regions: list = []
        self.min_faces: list = []

    def detect(self, image, region=None, min_face=None):
        self.regions.append(region)
        self.min_faces.append(min_face)
        h, w = image.shape[:2]
        x1, y1, x2, y2 = region if region is not None else (0, 0, w, h)
        return tuple(b for b in self.faces_per_call(self.frame)
                     if b.x1 >= x1 and b.y1 >= y1 and b.x2 <= x2 and b.y2 <= y2)


def run(det, n, cfg, size=(480, 640)):
    p = LivenessPipeline(det, FakeScorer(), detector_config=cfg, repeat_identical=False)
    out = []
    for i in range(n):
        det.frame = i
        out.append(p.step(np.zeros((*size, 3), np.uint8)))
    return out


def test_roi_regions_exact():
    assert roi_regions((B(100, 100),), 0.5, 640, 480) == ((50, 50, 250, 250),)
    # two faces apart: one region each, clipped to the frame
    assert roi_regions((B(10, 20), B(300, 200)), 0.5, 640, 480) == ((0, 0, 160, 170), (250, 150, 450, 350))
    # overlapping regions become their bounding rectangle (a face is never split between two)
    assert roi_regions((B(100, 100), B(180, 100)), 0.5, 640, 480) == ((50, 50, 330, 250),)
    # ... repeatedly: the merge of the first two overlaps the third
    assert roi_regions((B(100, 100, 50), B(160, 100, 50), B(210, 160, 50)), 0.5, 640, 480) == ((75, 75, 285, 235),)
    assert roi_regions((), 0.5, 640, 480) is None
    # regions over 60 % of the frame are not worth it: the whole frame is scanned instead
    assert roi_regions((B(200, 100, 250),), 0.5, 640, 480) is None
    corners = (B(65, 65, 130), B(445, 65, 130), B(65, 285, 130), B(445, 285, 130))  # 4 x 260^2 px: 88 %
    assert roi_regions(corners, 0.5, 640, 480) is None
    assert roi_regions(corners, 0.2, 640, 480) == ((39, 39, 221, 221), (39, 259, 221, 441),
                                                    (419, 39, 601, 221), (419, 259, 601, 441))


def test_whole_frame_every_nth_run_region_between():
    det = SceneDetector(lambda i: (B(100, 100),))
    res = run(det, 7, DetectorConfig(every_n=1, full_every=3))
    assert det.regions == [None, (50, 50, 250, 250), (50, 50, 250, 250), None,
                           (50, 50, 250, 250), (50, 50, 250, 250), None]
    assert [r.faces[0].track_id for r in res] == [1] * 7
    # the region scan gets the whole frame: the detector sizes the minimum face by it
    assert det.min_faces == [None] * 7


def test_full_every_1_always_scans_the_whole_frame():
    det = SceneDetector(lambda i: (B(100, 100),))
    run(det, 4, DetectorConfig(every_n=1, full_every=1))
    assert det.regions == [None] * 4


def test_a_face_that_left_the_region_is_found_by_an_immediate_whole_frame_scan():
    # the face jumps by 300 px on frame 1: the region scan finds nothing, the same frame is
    # rescanned whole and the face keeps being reported (a new track: it moved too far for IoU)
    det = SceneDetector(lambda i: (B(100, 100),) if i == 0 else (B(400, 300),))
    res = run(det, 3, DetectorConfig(every_n=1, full_every=4))
    assert det.regions[:3] == [None, (50, 50, 250, 250), None]
    assert all(len(r.faces) == 1 for r in res)
    assert res[1].faces[0].box.as_list() == [400, 300, 500, 400]


def test_a_tracked_face_that_left_its_region_as_a_new_face_entered_one_is_back_one_detector_run_later():
    # two faces tracked; on frame 1 face A jumps out of its region while a small new face C
    # appears in B's region: the regions hold as many faces as there are tracks, so frame 1 is not
    # rescanned (A is not reported); on frame 2 three tracks are open (A missed, kept) and the
    # regions hold two faces: the frame is rescanned whole and A is reported again
    a, b, c, a2 = B(100, 100), B(400, 250), B(360, 210, 40), B(110, 330)
    det = SceneDetector(lambda i: (a, b) if i == 0 else (a2, b, c))
    res = run(det, 3, DetectorConfig(every_n=1, full_every=4, batch_regions=False))
    assert det.regions == [None, (50, 50, 250, 250), (350, 200, 550, 400),
                           (50, 50, 250, 250), (340, 190, 550, 400), None]
    boxes = [sorted(f.box.as_list() for f in r.faces) for r in res]
    assert boxes[1] == [[360, 210, 400, 250], [400, 250, 500, 350]]
    assert boxes[2] == [[110, 330, 210, 430], [360, 210, 400, 250], [400, 250, 500, 350]]


def test_a_new_face_outside_the_region_is_found_at_the_next_whole_frame_scan():
    det = SceneDetector(lambda i: (B(100, 100),) if i < 2 else (B(100, 100), B(450, 300)))
    res = run(det, 5, DetectorConfig(every_n=1, full_every=3))
    assert [len(r.faces) for r in res] == [1, 1, 1, 2, 2]
    # once two faces are tracked each is scanned in its own region, largest face first
    assert det.regions == [None, (50, 50, 250, 250), (50, 50, 250, 250), None,
                           (50, 50, 250, 250), (400, 250, 600, 450)]
    assert res[4].faces[0].box.as_list() == [100, 100, 200, 200] and res[4].faces[1].box.as_list() == [450, 300, 550, 400]


def test_region_on_a_huge_frame_is_downscaled_and_mapped_back():
    asked = []

    class CropDetector:
        def detect(self, image, region=None, min_face=None):
            asked.append((image.shape[:2], region, min_face))
            if image.shape[1] == 960:  # the whole 3840x2160 frame downscaled to 960 wide (factor 1/4)
                return (FaceBox(100, 100, 150, 150, 0.99),)
            return (FaceBox(30, 30, 80, 80, 0.99),)  # in the downscaled region's pixels

    cfg = DetectorConfig(every_n=1, full_every=2, small_face_frac=None)
    p = LivenessPipeline(CropDetector(), FakeScorer(), detector_config=cfg, repeat_identical=False)
    img = np.zeros((2160, 3840, 3), np.uint8)
    r0, r1 = p.step(img), p.step(img)
    assert r0.faces[0].box.as_list() == [400, 400, 600, 600]
    # region around (400, 400, 600, 600) widened by half a side: (300, 300, 700, 700), 400 px
    # square, scanned at 1/4 (100 px) with the whole frame's minimum face (270 px → 68 px)
    assert asked[1] == ((100, 100), None, 68)
    assert r1.faces[0].box.as_list() == [420, 420, 620, 620]  # 300 + 4 * 30: the tracked face, found in its region
    # by default a tracked face smaller than the frame's minimum (this 200 px one: under 270 px)
    # is looked for in its region down to the finer minimum of the second whole-frame run (1/20
    # of 2160 = 108 px → 27 px at 1/4): it was not, and every detector run then fell back to two
    # whole-frame runs (a review measured this on a 54 px face in 1080p)
    asked.clear()
    p = LivenessPipeline(CropDetector(), FakeScorer(), detector_config=DetectorConfig(every_n=1, full_every=2),
                         repeat_identical=False)
    p.step(img), p.step(img)
    assert asked[1] == ((100, 100), None, 27)


@pytest.mark.parametrize("kw", [{"full_every": 0}, {"roi_margin": 0.0}, {"roi_margin": 5.0}])
def test_bad_region_settings_are_rejected(kw):
    with pytest.raises(ConfigError):
        DetectorConfig(**kw)
