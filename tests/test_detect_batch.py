"""Region scans of several tracked faces as one batched detector call (DetectorConfig.batch_regions)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rtliveness.config import DetectorConfig
from rtliveness.runtime.detect import MtcnnDetector, SharedDetector, padded_batch
from rtliveness.runtime.pipeline import LivenessPipeline, roi_regions
from rtliveness.types import FaceBox
from tests.conftest import FakeScorer


def B(x, y, s=100):
    return FaceBox(x, y, x + s, y + s, 0.99)


def test_padded_batch_places_each_image_top_left_on_black():
    a = np.full((30, 40, 3), 7, np.uint8)
    b = np.full((36, 32, 3), 9, np.uint8)
    batch = padded_batch([a, b])
    assert batch.shape == (2, 36, 40, 3)
    assert (batch[0, :30, :40] == 7).all() and (batch[0, 30:] == 0).all()
    assert (batch[1, :36, :32] == 9).all() and (batch[1, :, 32:] == 0).all()
    # 3 x 100 x 100 canvas for 100^2 + 2 x 10^2 own pixels: more than twice the work, not batched
    small = np.zeros((10, 10, 3), np.uint8)
    assert padded_batch([np.zeros((100, 100, 3), np.uint8), small, small]) is None


class BatchSceneDetector:
    """A detector with ``detect_images``: finds the scene's faces wholly inside each image it is
    given, told where that image sits in the frame (``places``: x offset, y offset, scale)."""

    def __init__(self, faces, places, frame_width=640):
        self.faces, self.places, self.frame_width = faces, places, frame_width
        self.batches: list = []
        self.regions: list = []

    def detect(self, image, region=None, min_face=None):
        """A whole-frame scan (of the frame, or of its downscaled copy: faces scaled to it)."""
        self.regions.append(region)
        h, w = image.shape[:2]
        f = w / self.frame_width
        x1, y1, x2, y2 = region if region is not None else (0, 0, w, h)
        return tuple(FaceBox(b.x1 * f, b.y1 * f, b.x2 * f, b.y2 * f, b.score) for b in self.faces
                     if b.x1 * f >= x1 and b.y1 * f >= y1 and b.x2 * f <= x2 and b.y2 * f <= y2)

    def detect_images(self, images, min_face):
        self.batches.append(([im.shape[:2] for im in images], min_face))
        out = []
        for im, (ox, oy, f) in zip(images, self.places):
            h, w = im.shape[:2]
            out.append(tuple(FaceBox((b.x1 - ox) * f, (b.y1 - oy) * f, (b.x2 - ox) * f, (b.y2 - oy) * f, b.score)
                             for b in self.faces
                             if b.x1 >= ox and b.y1 >= oy and (b.x2 - ox) * f <= w and (b.y2 - oy) * f <= h))
        return tuple(out)


def _run(det, n, cfg, size=(480, 640)):
    p = LivenessPipeline(det, FakeScorer(), detector_config=cfg)
    return [p.step(np.zeros((*size, 3), np.uint8)) for _ in range(n)]


def test_two_tracked_faces_are_scanned_in_one_batched_call_and_mapped_back():
    faces = (B(100, 100), B(450, 300))
    det = BatchSceneDetector(faces, places=[(50, 50, 1.0), (400, 250, 1.0)])
    res = _run(det, 3, DetectorConfig(every_n=1, full_every=4))
    # frame 0: whole frame; frames 1 and 2: both regions in one call, each 200 x 200 px, with the
    # whole frame's minimum face (1/8 of 480 = 60 px)
    assert det.regions == [None]
    assert det.batches == [([(200, 200), (200, 200)], 60)] * 2
    assert [f.box.as_list() for f in res[2].faces] == [[100, 100, 200, 200], [450, 300, 550, 400]]
    assert [f.track_id for f in res[2].faces] == [1, 2]
    # off: one detector call per region, same faces
    det2 = BatchSceneDetector(faces, places=[])
    res2 = _run(det2, 3, DetectorConfig(every_n=1, full_every=4, batch_regions=False))
    assert det2.batches == []
    assert det2.regions == [None, (50, 50, 250, 250), (400, 250, 600, 450), (50, 50, 250, 250), (400, 250, 600, 450)]
    assert [[f.box.as_list() for f in r.faces] for r in res2] == [[f.box.as_list() for f in r.faces] for r in res]


def test_batched_regions_of_a_huge_frame_are_downscaled_with_the_scaled_minimum_face():
    # 3840 x 2160 → factor 1/4; faces 400 px; regions 800 px square → 200 px images
    faces = (B(400, 400, 400), B(2400, 1200, 400))
    det = BatchSceneDetector(faces, places=[(200, 200, 0.25), (2200, 1000, 0.25)], frame_width=3840)
    res = _run(det, 2, DetectorConfig(every_n=1, full_every=4), size=(2160, 3840))
    assert det.batches == [([(200, 200), (200, 200)], 68)]  # 2160 / 8 = 270 px at 1/4
    assert [f.box.as_list() for f in res[1].faces] == [[400, 400, 800, 800], [2400, 1200, 2800, 1600]]


def test_shared_detector_passes_batches_through_or_scans_one_by_one():
    det = BatchSceneDetector((B(10, 10, 20),), places=[(0, 0, 1.0)])
    imgs = [np.zeros((50, 50, 3), np.uint8)]
    assert SharedDetector(det).detect_images(imgs, 20) == det.detect_images(imgs, 20)

    class Plain:
        def __init__(self):
            self.calls = []

        def detect(self, image, region=None, min_face=None):
            self.calls.append((image.shape[:2], region, min_face))
            return ()

    plain = Plain()
    assert SharedDetector(plain).detect_images([np.zeros((40, 30, 3), np.uint8)] * 2, 25) == ((), ())
    assert plain.calls == [((40, 30), None, 25)] * 2


@pytest.fixture(scope="module")
def four_face_frame():
    from rtliveness.bench.scenes import make_synthetic_video

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = make_synthetic_video(Path(d) / "four.mp4", faces=4, frames=3)
        cap = cv2.VideoCapture(str(path))
        ok, img = cap.read()
        cap.release()
    assert ok
    return img


def _iou(a: FaceBox, b: FaceBox) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    return inter / (a.width * a.height + b.width * b.height - inter)


def test_real_mtcnn_finds_the_same_four_faces_in_one_batched_call(four_face_frame):
    cfg = DetectorConfig()
    det = MtcnnDetector(cfg)
    h, w = four_face_frame.shape[:2]
    whole = det.detect(four_face_frame)
    assert len(whole) == 4
    regions = roi_regions(whole, cfg.roi_margin, w, h)
    assert regions is not None and len(regions) == 4
    subs = [four_face_frame[y1:y2, x1:x2] for x1, y1, x2, y2 in regions]
    min_face = cfg.min_face_for(h, w)
    apart = [det.detect(s, min_face=min_face) for s in subs]
    calls = []
    inner = det._mtcnn.detect
    det._mtcnn.detect = lambda img, *a, **k: (calls.append(np.shape(img)), inner(img, *a, **k))[1]
    together = det.detect_images(subs, min_face)
    # one network pass for the four regions, padded to the largest height and width
    assert calls == [(4, max(s.shape[0] for s in subs), max(s.shape[1] for s in subs), 3)]
    assert [len(t) for t in together] == [1, 1, 1, 1] and [len(a) for a in apart] == [1, 1, 1, 1]
    for t, a in zip(together, apart):
        assert _iou(t[0], a[0]) > 0.85 and t[0].score > 0.95
