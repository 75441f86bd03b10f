"""A tracked face is kept down to DetectorConfig.keep_confidence; a new face needs min_confidence.

Unit tests of the tracker's rule, the loop with a scripted detector, and real MTCNN on a real
face that the detector grows unsure of (blur) after it was found — through the API and through
`rtliveness run`.
"""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import read_frames, write_video
from rtliveness import DetectorConfig, LivenessPipeline, PipelineConfig
from rtliveness.errors import ConfigError
from rtliveness.runtime.track import IouTracker
from rtliveness.types import FaceBox

ROOT = Path(__file__).resolve().parents[1]


def B(x, y, score, s=100):
    return FaceBox(x, y, x + s, y + s, score)


# ---------------------------------------------------------------- the tracker's rule (pure)
def test_a_low_box_never_starts_a_track():
    t = IouTracker()
    assert t.update([B(0, 0, 0.8)], new_min=0.9) == ()
    assert t.active_ids == ()
    started = t.update([B(0, 0, 0.95)], new_min=0.9)
    assert [x.track_id for x in started] == [1]


def test_a_low_box_keeps_the_track_it_overlaps():
    t = IouTracker()
    t.update([B(0, 0, 0.95)], new_min=0.9)
    kept = t.update([B(6, 4, 0.75)], new_min=0.9)
    assert [(x.track_id, x.box.x1, x.detected) for x in kept] == [(1, 6.0, True)]
    # a second low box elsewhere in the same run starts nothing
    more = t.update([B(10, 6, 0.72), B(400, 300, 0.85)], new_min=0.9)
    assert [(x.track_id, x.box.x1) for x in more] == [(1, 10.0)]
    assert t.active_ids == (1,)


def test_a_low_box_beside_the_matched_one_is_dropped_not_a_new_track():
    t = IouTracker()
    t.update([B(0, 0, 0.99)], new_min=0.9)
    out = t.update([B(2, 0, 0.99), B(40, 0, 0.8)], new_min=0.9)  # the low one overlaps but loses the match
    assert [x.track_id for x in out] == [1] and t.active_ids == (1,)


def test_without_new_min_every_box_starts_a_track_as_before():
    t = IouTracker()
    assert [x.track_id for x in t.update([B(0, 0, 0.5)])] == [1]


def test_joinable_keeps_confident_boxes_and_low_boxes_near_a_track():
    t = IouTracker()
    t.update([B(0, 0, 0.99)], new_min=0.9)
    boxes = [B(300, 0, 0.95), B(5, 5, 0.75), B(600, 0, 0.75)]
    assert t.joinable(boxes, 0.9) == (boxes[0], boxes[1])
    assert t.joinable(boxes, None) == tuple(boxes)
    assert IouTracker().joinable(boxes, 0.9) == (boxes[0],)  # no track: only the confident box


# ---------------------------------------------------------------- the setting and the detector
def test_defaults_and_validation():
    cfg = DetectorConfig()
    assert (cfg.min_confidence, cfg.keep_confidence) == (0.9, 0.7)
    assert DetectorConfig(keep_confidence=None).keep_confidence is None
    # above min_confidence it is no error (it changes nothing): a user lowering min_confidence
    # below the default keep_confidence is not refused
    assert DetectorConfig(min_confidence=0.5).keep_confidence == 0.7
    with pytest.raises(ConfigError, match=r"keep_confidence must be None or in \[0, 1\], got 1.5"):
        DetectorConfig(keep_confidence=1.5)


def test_mtcnn_tracking_view_shares_the_networks_and_says_what_starts_a_face():
    from rtliveness.model.checkpoint import ModelMeta
    from rtliveness.runtime.detect import MtcnnDetector, SharedDetector, tracking_detector

    det = MtcnnDetector(DetectorConfig())
    view = det.tracking(0.7)
    assert view is not det and view._mtcnn is det._mtcnn
    assert (view._floor, view.new_face_confidence) == (0.7, 0.9) and view._cap > 10_000  # the loop caps
    assert (det._floor, det.new_face_confidence) == (0.9, None)  # the detector itself is unchanged
    assert det.tracking(None) is det and det.tracking(0.95) is det
    # a view of a view is a view of the detector; None on a view gives the detector back (off)
    again = view.tracking(0.8)
    assert again._base is det and (again._floor, again.new_face_confidence) == (0.8, 0.9)
    assert view.tracking(None) is det and tracking_detector(view, None) is det
    assert LivenessPipeline(view, ZeroScorer(ModelMeta(input_size=32)), threshold=0.5,
                            detector_config=DetectorConfig(keep_confidence=None)).detector is det
    lent = tracking_detector(SharedDetector(det), 0.7)
    assert isinstance(lent, SharedDetector) and lent.new_face_confidence == 0.9 and lent.detector._mtcnn is det._mtcnn
    # the pipeline applies it to what it is given (from_config, serve's and the fleet's lent
    # detector, prepare's and synth's loop boxes all pass through the constructor)
    pipe = LivenessPipeline(SharedDetector(det), ZeroScorer(ModelMeta(input_size=32)), threshold=0.5)
    assert pipe.detector.new_face_confidence == 0.9
    off = LivenessPipeline(det, ZeroScorer(ModelMeta(input_size=32)), threshold=0.5,
                           detector_config=DetectorConfig(keep_confidence=None))
    assert off.detector is det and off.detector.new_face_confidence is None
    # closing a pipeline closes the detector it was given (and the view), as before; a lent one stays open
    mine = MtcnnDetector(DetectorConfig())
    own = LivenessPipeline(mine, ZeroScorer(ModelMeta(input_size=32)), threshold=0.5)
    view = own.detector
    assert view is not mine
    own.close()
    assert mine._mtcnn is None and view._mtcnn is None
    pipe.close()
    assert det._mtcnn is not None
    haar_like = Scripted([[]])
    assert LivenessPipeline(haar_like, ZeroScorer(ModelMeta(input_size=32)), threshold=0.5).detector is haar_like


# ---------------------------------------------------------------- the loop, scripted detector
class Scripted:
    """Gives the next scripted list of boxes on each whole-frame or region call; a call with an
    explicit ``min_face`` (the small-face run) is counted apart and gives ``small``."""

    def __init__(self, script, new_face_confidence=None, small=()):
        self.script = list(script)
        self.new_face_confidence = new_face_confidence
        self.small = tuple(small)
        self.calls = self.small_calls = 0

    def detect(self, image_bgr, region=None, min_face=None):
        if min_face is not None:
            self.small_calls += 1
            return self.small
        out = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return tuple(out)


class ZeroScorer:
    def __init__(self, meta):
        self.meta = meta

    def embed(self, crops):
        return np.zeros((len(crops), 512), np.float32)

    def head(self, windows):
        return np.full(len(windows), 0.1, np.float32)


def _loop(script, new_min=0.9, size=(240, 320), frames=None, **cfg):
    from rtliveness.model.checkpoint import ModelMeta

    det = Scripted(script, new_min)
    settings = dict(every_n=1, full_every=1, small_face_frac=None)
    settings.update(cfg)
    pipe = LivenessPipeline(det, ZeroScorer(ModelMeta(input_size=32)), threshold=0.5,
                            detector_config=DetectorConfig(**settings))
    rng = np.random.default_rng(0)
    out = []
    for _ in range(frames or len(script)):
        r = pipe.step(rng.integers(0, 255, (*size, 3), dtype=np.uint8))
        out.append(tuple((v.track_id, v.label) for v in r.faces))
    return out, det


@pytest.mark.parametrize("full_every", [1, 4])  # whole-frame runs only; region scans between
def test_the_loop_keeps_a_found_face_through_unsure_detections(full_every):
    script = [[B(50, 40, 0.99)]] * 2 + [[B(52, 41, 0.78)]] * 6
    got, _ = _loop(script, full_every=full_every)
    assert [len(f) for f in got] == [1] * 8 and {f[0][0] for f in got} == {1}
    assert got[4:] == [((1, "live"),)] * 4  # scored from the 5th frame on, the window never broken
    # an unsure face alone is never started
    assert _loop([[B(50, 40, 0.78)]] * 6)[0] == [()] * 6


def test_a_detector_that_reports_no_start_confidence_starts_faces_as_before():
    got, _ = _loop([[B(50, 40, 0.5)]] * 3, new_min=None)  # a host's detector with scores of its own
    assert [len(f) for f in got] == [1, 1, 1]


def test_on_a_large_frame_the_unsure_box_is_kept_in_frame_coordinates():
    # 1280x720 detected on a 640x360 copy: the scripted boxes are in the copy's pixels
    # (and an unsure box far from the face is dropped)
    far = FaceBox(400, 200, 450, 250, 0.8)
    script = [[FaceBox(25, 20, 75, 70, 0.99)]] * 2 + [[FaceBox(26, 21, 76, 71, 0.8), far]] * 4
    got, _ = _loop(script, size=(720, 1280), max_side=640)
    assert [len(f) for f in got] == [1] * 6 and {f[0][0] for f in got} == {1}


def test_max_faces_counts_only_the_usable_boxes():
    # a larger unsure box elsewhere must not take the only slot from a confident face
    script = [[B(0, 0, 0.75, s=200), B(250, 50, 0.99, s=60)]] * 3
    got, _ = _loop(script, size=(480, 640), max_faces=1)
    assert [len(f) for f in got] == [1, 1, 1]


def test_unsure_boxes_do_not_reset_the_small_face_runs_cadence():
    from rtliveness.model.checkpoint import ModelMeta

    # a face-free scene where MTCNN reports one unsure box on every run, the small-face run too
    det = Scripted([[B(300, 200, 0.8)]], 0.9, small=[B(100, 100, 0.8, s=30)])
    pipe = LivenessPipeline(det, ZeroScorer(ModelMeta(input_size=32)), threshold=0.5,
                            detector_config=DetectorConfig(every_n=1, full_every=1))
    frame = np.zeros((480, 640, 3), np.uint8)
    for i in range(16):
        frame[0, 0, 0] = i  # a new picture each time (identical frames are not detected again)
        assert pipe.step(frame).faces == ()
    assert (det.calls, det.small_calls) == (16, 2)  # the second look on runs 1 and 9 only


# ---------------------------------------------------------------- real MTCNN on a real face
@pytest.fixture(scope="module")
def blurred_after_ten(tmp_path_factory):
    """carphone (a real face, QCIF): 10 clean frames, then 30 with a Gaussian blur (sigma 4) that
    leaves MTCNN's confidence in the face mostly between 0.7 and 0.9."""
    frames = read_frames(ROOT / "assets" / "carphone_pristine.mp4")[:40]
    assert len(frames) == 40
    video = [f if i < 10 else cv2.GaussianBlur(f, (0, 0), 4.0) for i, f in enumerate(frames)]
    return write_video(tmp_path_factory.mktemp("keep") / "blur.avi", video, fourcc="MJPG")


def _faces(video, tiny_weights, keep):
    cfg = PipelineConfig(weights=tiny_weights, device="cpu", detector=DetectorConfig(keep_confidence=keep))
    with LivenessPipeline.from_config(cfg) as pipe:
        return [tuple(v.track_id for v in pipe.step(f).faces) for f in read_frames(video)]


def test_real_mtcnn_keeps_a_blurred_face_that_it_found_sharp(blurred_after_ten, tiny_weights):
    kept = _faces(blurred_after_ten, tiny_weights, 0.7)
    lost = _faces(blurred_after_ten, tiny_weights, None)
    assert all(kept[:10]) and all(lost[:10])  # found while sharp, either way
    # kept: one face throughout, missing on a few frames at most (measured: 3 of 40)
    assert {i for f in kept for i in f} == {1}
    assert sum(not f for f in kept) <= 5
    # without it the face is lost for most of the blurred stretch (measured: 19 frames) and comes
    # back as another face, its window started again
    assert sum(not f for f in lost) >= 12
    assert len({i for f in lost for i in f}) >= 2


def test_run_cli_keeps_the_blurred_face_by_default(blurred_after_ten, tiny_weights, tmp_path):
    jl = tmp_path / "o.jsonl"
    exe = Path(sys.executable).with_name("rtliveness")
    r = subprocess.run([str(exe), "run", str(blurred_after_ten), "--jsonl", str(jl), "--weights", str(tiny_weights),
                        "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(line) for line in jl.read_text().splitlines()]
    frames = [row for row in rows if "frame" in row]
    assert len(frames) == 40
    ids = [tuple(f["track"] for f in row["faces"]) for row in frames]
    assert {i for f in ids for i in f} == {1} and sum(not f for f in ids) <= 5
