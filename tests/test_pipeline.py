"""Pipeline logic with fakes (no model), and with a real (tiny, random) model + real MTCNN."""

from pathlib import Path

import numpy as np
import pytest

from conftest import FakeDetector, FakeScorer, fake_pipeline
from rtliveness.config import DetectorConfig, PipelineConfig
from rtliveness.errors import ClosedError, FrameError
from rtliveness.runtime.pipeline import LivenessPipeline
from rtliveness.runtime.sources import ArraySource
from rtliveness.types import FaceBox, Frame, as_bgr


def B(x, y, s=60):
    return FaceBox(x, y, x + s, y + s, 0.99)


def frames(n, value=100, size=(160, 120)):
    return [np.full((size[1], size[0], 3), value, np.uint8) for _ in range(n)]


def test_pending_until_window_full_then_scored():
    det = FakeDetector([(B(10, 10),)])
    sc = FakeScorer(threshold=0.5)
    p = fake_pipeline(det, sc)
    results = list(p.run(ArraySource(frames(7, value=204))))
    labels = [r.faces[0].label for r in results]
    assert labels == ["pending"] * 4 + ["spoof"] * 3  # 204/255 = 0.8 >= 0.5
    assert results[3].faces[0].p_spoof is None
    assert results[4].faces[0].p_spoof == pytest.approx(0.8)
    assert sc.embedded == 7  # each crop embedded exactly once
    assert sc.windows == 3
    s = p.track_summaries()
    assert len(s) == 1 and s[0].windows == 3 and s[0].frames == 7 and s[0].label == "spoof"


def test_track_summary_is_the_mean_of_its_windows_and_spans_its_frames():
    det = FakeDetector([(B(10, 10),)])
    p = fake_pipeline(det, FakeScorer(threshold=0.5))
    values = [51, 102, 153, 204, 255, 0, 51]  # windows of 5: means 153, 142.8, 132.6 (/255: 0.6, 0.56, 0.52)
    results = list(p.run(ArraySource([np.full((120, 160, 3), v, np.uint8) for v in values])))
    scored = [r.faces[0].p_spoof for r in results[4:]]
    assert scored == pytest.approx([0.6, 0.56, 0.52])
    (s,) = p.track_summaries()
    assert s.mean_p_spoof == pytest.approx(np.mean(scored)) and s.windows == 3
    assert (s.first_frame, s.last_frame, s.frames) == (0, 6, 7)
    assert {k: s.to_json()[k] for k in ("first_frame", "last_frame", "frames", "windows")} == {
        "first_frame": 0, "last_frame": 6, "frames": 7, "windows": 3}


def test_live_below_threshold_and_threshold_override():
    det = FakeDetector([(B(10, 10),)])
    r = list(fake_pipeline(det, FakeScorer(threshold=0.5)).run(ArraySource(frames(5, value=51))))
    assert r[-1].faces[0].label == "live" and r[-1].faces[0].p_spoof == pytest.approx(0.2)
    r = list(fake_pipeline(FakeDetector([(B(10, 10),)]), FakeScorer(), threshold=0.1).run(ArraySource(frames(5, value=51))))
    assert r[-1].faces[0].label == "spoof"


def test_no_faces_gives_empty_tuple():
    p = fake_pipeline(FakeDetector([()]), FakeScorer())
    r = p.step(frames(1)[0])
    assert r.faces == () and isinstance(r.faces, tuple)


def test_two_faces_batched_in_one_embed_call():
    calls = []

    class CountingScorer(FakeScorer):
        def embed(self, crops):
            calls.append(len(crops))
            return super().embed(crops)

    p = fake_pipeline(FakeDetector([(B(0, 0), B(90, 50))]), CountingScorer())
    list(p.run(ArraySource(frames(5))))
    assert calls == [2] * 5
    assert sorted(v.track_id for v in p.step(frames(1)[0]).faces) == [1, 2]


def test_detect_every_n_carries_boxes():
    det = FakeDetector([(B(10, 10),)])
    p = fake_pipeline(det, FakeScorer(), every_n=3)
    res = list(p.run(ArraySource(frames(9))))
    assert det.calls == 3  # frames 0, 3, 6
    assert [r.detected for r in res] == [True, False, False] * 3
    assert all(len(r.faces) == 1 and r.faces[0].track_id == 1 for r in res)


def test_epoch_change_clears_windows():
    p = fake_pipeline(FakeDetector([(B(10, 10),)]), FakeScorer())
    img = frames(1)[0]
    for i in range(5):
        r = p.step(Frame(i, img, i / 25, epoch=0))
    assert r.faces[0].label != "pending"
    r = p.step(Frame(5, img, 5 / 25, epoch=1))  # a reconnect: nothing from before the gap is used
    assert r.faces[0].label == "pending" and r.faces[0].track_id == 2


def test_face_leaving_is_evicted_with_its_buffer():
    script = [(B(10, 10),)] * 3 + [()] * 5
    p = fake_pipeline(FakeDetector(script), FakeScorer())
    for f in frames(8):
        p.step(f)
    assert p.open_tracks == 0 and len(p.buffer) == 0


def test_nan_score_never_reaches_a_verdict():
    class NanScorer(FakeScorer):
        def head(self, windows):
            return np.full(len(windows), np.nan)

    p = fake_pipeline(FakeDetector([(B(10, 10),)]), NanScorer())
    res = list(p.run(ArraySource(frames(8))))
    assert all(v.label == "pending" and v.p_spoof is None for r in res for v in r.faces)


@pytest.mark.parametrize("img", [np.zeros((40, 50), np.uint8), np.zeros((40, 50, 1), np.uint8), np.zeros((40, 50, 4), np.uint8)])
def test_gray_and_bgra_frames_accepted(img):
    p = fake_pipeline(FakeDetector([(B(1, 1, 20),)]), FakeScorer())
    r = p.step(img)
    assert len(r.faces) == 1


@pytest.mark.parametrize("bad", [np.zeros((40, 50, 3), np.float32), np.zeros((4, 40, 50, 3), np.uint8), np.zeros((40, 50, 2), np.uint8), "frame"])
def test_bad_frames_raise_typed_error(bad):
    p = fake_pipeline(FakeDetector([()]), FakeScorer())
    with pytest.raises(FrameError):
        p.step(bad)


@pytest.mark.parametrize("dtype,value,advice", [
    # pixels in [0, 1]: the old advice (clip, cast) gave a black frame
    (np.float32, 0.5, "frame must be uint8, got dtype float32; scale floats in [0, 1] first: np.clip(frame * 255, 0, 255).astype(np.uint8)"),
    # pixels in [0, 255] after cv2 float maths: scaling them by 255 would give a white frame
    (np.float64, 128.0, "frame must be uint8, got dtype float64; convert with np.clip(frame, 0, 255).astype(np.uint8)"),
    # a 16-bit picture: clipping it made 99.7 % of a real one's pixels 255 (a review), no face found
    (np.uint16, 300, "frame must be uint8, got dtype uint16; keep the top byte: (frame >> 8).astype(np.uint8)"),
    (np.uint32, 300, "frame must be uint8, got dtype uint32; keep the top byte: (frame >> 24).astype(np.uint8)"),
    (np.int16, 300, "frame must be uint8, got dtype int16; convert with np.clip(frame, 0, 255).astype(np.uint8)"),
    (bool, True, "frame must be uint8, got dtype bool; give a uint8 gray, BGR or BGRA image")])
def test_a_frame_of_another_dtype_gets_advice_that_fits_it(dtype, value, advice):
    p = fake_pipeline(FakeDetector([()]), FakeScorer())
    with pytest.raises(FrameError) as err:
        p.step(np.full((40, 50, 3), value, dtype))
    assert str(err.value) == advice


def test_the_advice_for_a_16_bit_frame_gives_back_its_picture():
    picture = np.arange(40 * 50 * 3, dtype=np.uint8).reshape(40, 50, 3)
    frame = picture.astype(np.uint16) * 257  # as a 16-bit PNG or camera holds it
    with pytest.raises(FrameError) as err:
        as_bgr(frame)
    advice = str(err.value).split(": ", 1)[1]
    assert np.array_equal(eval(advice, {"np": np, "frame": frame}), picture)


def test_huge_frames_are_downscaled_for_detection_only():
    seen = []

    class SizeDetector:
        def detect(self, image, region=None):
            seen.append(image.shape)
            return (FaceBox(100, 100, 200, 200, 0.99),)

    p = fake_pipeline(SizeDetector(), FakeScorer(), detector_config=DetectorConfig(max_side=960))
    r = p.step(np.zeros((2160, 3840, 3), np.uint8))
    assert seen == [(540, 960, 3)]
    assert r.faces[0].box.as_list() == [400, 400, 800, 800]


def test_two_pipelines_do_not_interfere(tiny_weights, two_faces, grace):
    cfg = PipelineConfig(weights=tiny_weights, device="cpu")
    with LivenessPipeline.from_config(cfg) as a, LivenessPipeline.from_config(cfg) as b:
        ra = [a.step(two_faces) for _ in range(6)]
        rb = [b.step(grace) for _ in range(6)]
        ra2 = a.step(two_faces)
    assert [len(r.faces) for r in ra] == [2] * 6
    assert [len(r.faces) for r in rb] == [1] * 6
    assert sorted(v.track_id for v in ra2.faces) == [1, 2] and rb[-1].faces[0].track_id == 1
    # the same frames give the same scores in a fresh pipeline: no state leaks between them
    with LivenessPipeline.from_config(cfg) as c:
        rc = [c.step(two_faces) for _ in range(6)]
    assert [v.p_spoof for v in rc[-1].faces] == pytest.approx([v.p_spoof for v in ra[-1].faces], abs=1e-6)


def test_closed_pipeline_refuses_work(tiny_weights, grace):
    p = LivenessPipeline.from_config(PipelineConfig(weights=tiny_weights, device="cpu"))
    p.close()
    p.close()
    with pytest.raises(ClosedError, match="step\\(\\) after close\\(\\)") as e:
        p.step(grace)
    assert isinstance(e.value, RuntimeError)  # what it raised before the typed error


@pytest.mark.parametrize("ts", [float("nan"), float("inf"), "abc", [1.0], "2.5", b"2.5", bytearray(b"2.5")])
def test_bad_timestamp_raises_typed_error(ts):
    """Not a finite number: a FrameError (README). A numeric string used to pass as a number."""
    p = fake_pipeline(FakeDetector([(B(1, 1, 20),)]), FakeScorer())
    with pytest.raises(FrameError, match="timestamp must be"):
        p.step(frames(1)[0], timestamp=ts)
    assert p.step(frames(1)[0], timestamp=np.float64(2.5)).timestamp == 2.5


@pytest.mark.parametrize("ts", [float("nan"), -float("inf"), None, "abc", True])
def test_a_frame_built_by_hand_keeps_the_same_timestamp_rule(ts):
    """Frame(...) passed to step() bypasses step's timestamp argument: the record checks its own."""
    image = frames(1)[0]
    with pytest.raises(FrameError, match="timestamp must be"):
        Frame(0, image, ts)
    for value in (3, np.float32(1.5), np.int64(2)):
        f = Frame(0, image, value)
        assert type(f.timestamp) is float and f.timestamp == float(value)
    p = fake_pipeline(FakeDetector([(B(1, 1, 20),)]), FakeScorer())
    assert p.step(Frame(0, image, 4)).timestamp == 4.0


def test_a_frame_built_by_hand_is_checked_like_an_array_and_keeps_its_own_timestamp():
    """A review found Frame("a", …) a bare TypeError, Frame(1.5, …) and an empty image accepted
    (the array path refuses one), and step(Frame, timestamp=…) ignoring the timestamp."""
    image = frames(1)[0]
    for index in ("a", None, 1.5, True):
        with pytest.raises(FrameError, match=r"^Frame\.index must be an integer, got "):
            Frame(index, image, 0.0)
    with pytest.raises(FrameError, match=r"^Frame\.epoch must be an integer, got 'x'$"):
        Frame(0, image, 0.0, epoch="x")
    with pytest.raises(FrameError, match=r"^Frame\.image_bgr is empty: shape \(0, 0, 3\)$"):
        Frame(0, np.zeros((0, 0, 3), np.uint8), 0.0)
    assert Frame(np.int64(3), image, 0.0, np.int32(1)).index == 3  # numpy integers are integers
    p = fake_pipeline(FakeDetector([(B(1, 1, 20),)]), FakeScorer())
    with pytest.raises(FrameError, match=r"^step\(\) got a Frame and timestamp=5\.0: a Frame carries its own timestamp"):
        p.step(Frame(0, image, 1.0), timestamp=5.0)
    assert p.step(Frame(0, image, 1.0)).timestamp == 1.0


def test_process_source_refuses_max_frames_below_one():
    from rtliveness.errors import ConfigError
    from rtliveness.runtime.app import process_source
    from rtliveness.runtime.sources import ArraySource

    p = fake_pipeline(FakeDetector([()]), FakeScorer())
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ConfigError, match=r"^max_frames must be an integer >= 1 \(leave it out for every frame\), got "):
            process_source(p, ArraySource(frames(3)), max_frames=bad)
    assert process_source(p, ArraySource(frames(3)), max_frames=2).frames == 2
    assert process_source(p, ArraySource(frames(3)), max_frames=np.int64(1)).frames == 1


def test_nan_after_a_score_returns_to_pending_and_is_not_counted():
    class FlakyScorer(FakeScorer):
        def head(self, windows):
            self.windows += len(windows)
            return np.full(len(windows), 0.1 if self.windows == 1 else np.nan)

    p = fake_pipeline(FakeDetector([(B(10, 10),)]), FlakyScorer())
    res = [p.step(f) for f in frames(8)]
    assert res[4].faces[0].label == "live" and res[4].faces[0].p_spoof == pytest.approx(0.1)
    assert all(r.faces[0].label == "pending" for r in res[5:])
    assert p.track_summaries()[0].windows == 1


def test_a_missed_detection_restarts_the_window():
    script = [(B(10, 10),)] * 5 + [()] + [(B(11, 10),)] * 6
    p = fake_pipeline(FakeDetector(script), FakeScorer())
    res = [p.step(f) for f in frames(12)]
    assert res[4].faces[0].label != "pending"
    assert res[5].faces == ()
    # same id (the face came back within max_missed) but a fresh window: 5 new crops first
    assert [r.faces[0].track_id for r in res[6:]] == [1] * 6
    assert [r.faces[0].label for r in res[6:10]] == ["pending"] * 4 and res[10].faces[0].label != "pending"


def test_explicit_min_face_is_in_full_frame_pixels_on_huge_frames():
    asked = []

    class MinFaceDetector:
        def detect(self, image, region=None, min_face=None):
            asked.append((image.shape[1], min_face))
            return ()

    p = fake_pipeline(MinFaceDetector(), FakeScorer(), detector_config=DetectorConfig(max_side=960, min_face_size=80))
    p.step(np.zeros((2160, 3840, 3), np.uint8))
    assert asked == [(960, 20)]  # 80 px at 3840 wide = 20 px on the 960-wide copy


# ------------------------------------------------------------------ the same frame again
def test_a_photo_given_again_keeps_its_first_verdict_exactly(grace):
    """Real MTCNN, the bundled weights: a still photo passed to step() again and again. Its first
    verdict comes on the 5th call (as `rtliveness run photo.jpg`), and later calls repeat it —
    before, region scans and the tracker's carry moved the box on an image that never changes and
    p_spoof drifted across the threshold (a review found 0.35-0.60 over 30 calls)."""
    with LivenessPipeline.from_config(PipelineConfig(device="cpu")) as pl:
        results = [pl.step(grace.copy()) for _ in range(12)]  # a new array each time, same pixels
        first = [r for r in results if r.faces and r.faces[0].p_spoof is not None][0]
        assert first.frame_index == 4 and [r.faces[0].label for r in results[:4]] == ["pending"] * 4
        for r in results[5:]:
            assert r.faces == first.faces and not r.detected  # boxes and p_spoof identical
        summary = pl.track_summaries()[0]
        assert summary.windows == 1 and summary.frames == 12  # repeats are frames, not new windows
        fresh = LivenessPipeline.from_config(PipelineConfig(device="cpu"))
        with fresh:
            again = [fresh.step(grace.copy()) for _ in range(5)][-1]
        assert again.faces == first.faces  # what a photo gets through run / the service


def test_a_reused_buffer_or_a_changed_frame_is_processed_not_repeated():
    face = FaceBox(10, 10, 40, 40)
    det = FakeDetector([(face,)])
    sc = FakeScorer()
    pl = fake_pipeline(det, sc, repeat_identical=True)  # the API's default
    img = np.full((60, 60, 3), 100, np.uint8)
    for _ in range(5):
        pl.step(img.copy())
    assert det.calls == 5 and sc.embedded == 5
    buf = img.copy()
    pl.step(buf)  # the same pixels in a new array: repeated, nothing run
    assert det.calls == 5 and sc.embedded == 5
    pl.step(buf)  # the previous frame's array again (a caller's buffer may have been refilled): processed
    assert det.calls == 6 and sc.embedded == 6
    changed = img.copy()
    changed[30, 30] = 101  # one pixel off the subsample grid
    pl.step(changed)
    assert det.calls == 7 and sc.embedded == 7
    pl.reset()
    pl.step(changed.copy())  # after reset nothing is repeated: pending again
    assert det.calls == 8 and pl.step(changed.copy()).faces[0].p_spoof is None


def test_a_face_that_left_is_not_repeated_onto_a_frozen_picture():
    """The person leaves on a frame without a detector run (the tracker carries the box onto the
    empty picture, and that window is scored), then the picture freezes (a stalled camera, a
    still end slate). Before, every identical frame repeated that carried verdict: a 'live' for
    nobody, forever, the detector never run again. Now the next detector run drops it."""
    face = FaceBox(10, 10, 40, 40)

    class SeesTheFace:  # a face wherever the picture is bright
        calls = 0

        def detect(self, image, region=None, min_face=None):
            self.calls += 1
            return (face,) if image.mean() > 50 else ()

    det = SeesTheFace()
    pl = fake_pipeline(det, FakeScorer(), every_n=3, repeat_identical=True)
    faces = [pl.step(np.full((60, 60, 3), 100 + i, np.uint8)) for i in range(8)]  # detector runs on 0, 3, 6
    assert faces[-1].faces[0].label == "live" and not faces[-1].detected
    empty = np.full((60, 60, 3), 20, np.uint8)
    left = pl.step(empty.copy())  # frame 8: carried onto the empty picture, scored
    assert not left.detected and left.faces[0].p_spoof is not None
    after = [pl.step(empty.copy())]
    assert after[0].detected and det.calls == 4  # frame 9: a detector run, not a repeat of frame 8
    after += [pl.step(empty.copy()) for _ in range(11)]
    assert [r.faces for r in after] == [()] * 12
    assert pl.track_summaries()[0].last_frame == 8


def test_a_frame_of_another_size_starts_afresh():
    """A service client switching cameras, a phone turned, a stream renegotiated: boxes of the old
    picture used to be carried (clipped) onto the new one until the detector's next run — faces
    where there were none, a real face missed. Now the tracks and windows end and the detector
    runs on the new picture at once; ids keep counting."""
    big, small = FaceBox(300, 200, 400, 300), FaceBox(10, 10, 40, 40)

    class BySize:
        calls = 0

        def detect(self, image, region=None, min_face=None):
            self.calls += 1
            return (big,) if image.shape[1] == 640 else (small,)

    det = BySize()
    pl = fake_pipeline(det, FakeScorer(), every_n=3)
    before = [pl.step(np.full((480, 640, 3), 100 + i, np.uint8)) for i in range(5)]  # detector on 0 and 3, not due on 5
    assert before[-1].faces[0].label == "live" and det.calls == 2
    after = [pl.step(np.full((60, 60, 3), 100, np.uint8))]
    assert after[0].detected and det.calls == 3
    after += [pl.step(np.full((60, 60, 3), 101 + i, np.uint8)) for i in range(4)]
    assert [(v.track_id, v.box, v.label) for v in after[0].faces] == [(2, small, "pending")]
    assert [r.faces[0].label for r in after] == ["pending"] * 4 + ["live"]  # a window of its own
    assert [s.track_id for s in pl.track_summaries()] == [1, 2]
    assert pl.track_summaries()[0].last_frame == 4


def test_a_duplicated_video_frame_is_repeated_until_a_detector_run_is_due():
    """15 fps content in a 30 fps file: every frame comes twice. A copy gets the previous verdicts
    again, not a new score from a carried box (the drift the repeat rule stops), unless the
    detector's schedule falls on it: then it is looked at again (a review found 3 of 7 copies
    scored again once carried boxes were never repeated)."""
    face = FaceBox(10, 10, 40, 40)
    det, sc = FakeDetector([(face,)]), FakeScorer()
    pl = fake_pipeline(det, sc, every_n=3, repeat_identical=True)
    copies = []
    for i in range(30):
        img = np.full((60, 60, 3), 60 + i, np.uint8)
        first = pl.step(img.copy())
        before = sc.embedded
        again = pl.step(img.copy())
        if first.faces[0].p_spoof is not None:
            copies.append((again.faces == first.faces and sc.embedded == before, again.detected))
    assert all(repeated or detected for repeated, detected in copies)  # scored again only at a detector run
    assert sum(repeated for repeated, _ in copies) >= len(copies) // 2


def test_reset_after_close_is_a_closed_error_and_reset_keeps_indices():
    det = FakeDetector([(FaceBox(10, 10, 40, 40),)])
    pl = fake_pipeline(det, FakeScorer())
    img = np.full((60, 60, 3), 100, np.uint8)
    r = [pl.step(img.copy()) for _ in range(3)]
    pl.reset()
    after = pl.step(img.copy())
    assert after.frame_index == 3 and after.timestamp == 3.0  # indices keep counting (documented)
    assert after.faces[0].track_id != r[0].faces[0].track_id and after.faces[0].p_spoof is None
    pl.close()
    with pytest.raises(ClosedError, match=r"reset\(\) after close\(\)"):
        pl.reset()
    pl.close()  # still idempotent


def test_pipeline_config_wants_typed_detector_and_tracker_configs():
    from rtliveness.errors import ConfigError

    with pytest.raises(ConfigError, match=r"detector must be a DetectorConfig, e\.g\. DetectorConfig\(kind='haar'\), got 'haar'"):
        PipelineConfig(detector="haar")
    with pytest.raises(ConfigError, match="tracker must be a TrackerConfig"):
        PipelineConfig(tracker=None)


def test_config_records_refuse_wrong_kinds_with_a_config_error_naming_the_field():
    """A wrong kind of value is a ConfigError naming the record and field, not the TypeError of
    a comparison (``None < 0.5``) or of ``Path(123)``; numpy numbers and lists still pass."""
    from rtliveness.config import DetectorConfig, StreamConfig, TrackerConfig
    from rtliveness.errors import ConfigError
    from rtliveness.fleet.config import FleetConfig
    from rtliveness.serve.config import ServeConfig

    cases = [
        (lambda: PipelineConfig(weights=123), "PipelineConfig: weights must be a path (str or pathlib.Path) (or None), got 123"),
        (lambda: PipelineConfig(threshold="half"), "PipelineConfig: threshold must be a number (or None), got 'half'"),
        (lambda: PipelineConfig(verify_checksum="yes"), "PipelineConfig: verify_checksum must be true or false, got 'yes'"),
        (lambda: PipelineConfig(cpu_threads=2.5), "PipelineConfig: cpu_threads must be an integer, got 2.5"),
        (lambda: DetectorConfig(thresholds=None), "DetectorConfig: thresholds must be a tuple of numbers, got None"),
        (lambda: DetectorConfig(every_n=True), "DetectorConfig: every_n must be an integer, got True"),
        (lambda: TrackerConfig(iou_threshold=None), "TrackerConfig: iou_threshold must be a number, got None"),
        (lambda: TrackerConfig(restart_distance=0), "--restart-distance (restart_distance) must be a cosine distance in (0, 2] ('off' / None: never), got 0.0"),
        (lambda: StreamConfig(give_up_s="x"), "StreamConfig: give_up_s must be a number, got 'x'"),
        (lambda: ServeConfig(port="http"), "ServeConfig: port must be an integer, got 'http'"),
        (lambda: ServeConfig(allow_origins=("https://a", 1)), "ServeConfig: allow_origins must be a tuple of strings, got ('https://a', 1)"),
        (lambda: FleetConfig(sources=("a.mp4",), workers=2.5), "FleetConfig: workers must be an integer, got 2.5"),
    ]
    for make, message in cases:
        with pytest.raises(ConfigError) as err:
            make()
        assert str(err.value) == message
    # values a host reads from a YAML / JSON file or computes with numpy are normalised, not refused
    from decimal import Decimal

    assert PipelineConfig(threshold=np.float32(0.25)).threshold == 0.25 and PipelineConfig(threshold="0.5").threshold == 0.5
    assert type(PipelineConfig(threshold=np.float32(0.25)).threshold) is float
    assert PipelineConfig(weights="w.pt").weights == Path("w.pt")
    assert DetectorConfig(thresholds=np.array([0.6, 0.7, 0.7])).thresholds == (0.6, 0.7, 0.7)
    assert DetectorConfig(thresholds=[0.6, 0.7, 0.7]).thresholds == (0.6, 0.7, 0.7)
    assert DetectorConfig(every_n=np.int64(2)).every_n == 2 and type(DetectorConfig(every_n=np.int64(2)).every_n) is int
    assert TrackerConfig(iou_threshold=Decimal("0.3")).iou_threshold == 0.3
    assert StreamConfig(reconnect=np.bool_(False)).reconnect is False and StreamConfig(reconnect=1).reconnect is True
    assert StreamConfig(give_up_s=float("inf")).give_up_s == float("inf")  # never give up
    with pytest.raises(ConfigError, match=r"^from_config takes a PipelineConfig \(or None for the defaults\), got 'x'"):
        LivenessPipeline.from_config("x")


def test_boxes_are_plain_floats_on_carried_frames():
    det = FakeDetector([(FaceBox(np.float32(10), 10, 40, 40),), ()])
    pl = fake_pipeline(det, FakeScorer(), every_n=3)
    for i in range(4):
        img = np.full((60, 60, 3), 100 + i, np.uint8)
        for v in pl.step(img).faces:
            assert all(type(getattr(v.box, k)) is float for k in ("x1", "y1", "x2", "y2", "score"))


def test_track_summaries_come_in_track_order():
    """Review finding: the summary listed tracks by when they were last seen (track 2; track 1;
    track 3), in the human line and in the JSON summary's ``tracks``."""
    a, b = FaceBox(5, 5, 40, 40), FaceBox(60, 5, 95, 40)
    p = fake_pipeline(FakeDetector([(a, b), (a,), (a,)]), FakeScorer())
    for _ in range(3):
        p.step(np.full((60, 100, 3), 100, np.uint8))
    assert [t.track_id for t in p.track_summaries()] == [1, 2]
    assert [t.frames for t in p.track_summaries()] == [3, 1]


def test_one_clips_summary_does_not_sort_every_earlier_track():
    """Soak review: a kiosk reusing one pipeline keeps up to max_summaries tracks; every clip's
    summary built and sorted all of them (about 50 ms at the cap) to keep its own few."""
    import time

    p = fake_pipeline(FakeDetector([()]), FakeScorer())
    for tid in range(1, 10_001):
        p._record(tid, tid, 0.5)
    t0 = time.perf_counter()
    mine = p.track_summaries({9_999, 10_000, 123_456})  # an id not kept is left out
    took = time.perf_counter() - t0
    assert [t.track_id for t in mine] == [9_999, 10_000] and mine[0].mean_p_spoof == 0.5
    assert len(p.track_summaries()) == 10_000
    assert took < 0.005


class _SeesSmallFacesOnly:
    """A detector that finds a face only when asked for faces of ``side`` px or smaller."""

    def __init__(self, side: int, box) -> None:
        self.side, self.box, self.asked = side, box, []

    def detect(self, image_bgr, region=None, min_face=None):
        self.asked.append((image_bgr.shape[:2], min_face))
        return (self.box,) if min_face is not None and min_face <= self.side else ()


@pytest.mark.parametrize("shape,first,second", [((480, 640), None, 24), ((2160, 3840), None, 27)])
def test_a_frame_without_a_face_at_an_eighth_is_searched_again_for_small_faces(shape, first, second):
    """A person further from the camera (a 70 px face in a 1080p phone video, 150 px in 4K, a
    full-body photo) was never searched for below 1/8 of the short side: 'no faces found'. A
    whole-frame run that finds nothing looks once more, down to 1/20."""
    from rtliveness.config import DetectorConfig
    from rtliveness.runtime.pipeline import LivenessPipeline

    det = _SeesSmallFacesOnly(30, FaceBox(10, 10, 40, 40, 0.99))
    p = LivenessPipeline(det, FakeScorer(), detector_config=DetectorConfig(), repeat_identical=False)
    r = p.step(np.full((*shape, 3), 90, np.uint8))
    small = (540, 960) if shape[0] > 960 else shape  # a large frame is detected on a copy of 960 px
    assert det.asked == [(small, first), (small, second)]
    assert len(r.faces) == 1
    # off with an explicit minimum face, or small_face_frac=None: one run
    for cfg in (DetectorConfig(min_face_size=40), DetectorConfig(small_face_frac=None)):
        det.asked = []
        LivenessPipeline(det, FakeScorer(), detector_config=cfg, repeat_identical=False).step(np.full((*shape, 3), 90, np.uint8))
        assert len(det.asked) == 1


def test_small_face_settings_are_checked():
    from rtliveness.config import DetectorConfig
    from rtliveness.errors import ConfigError

    assert DetectorConfig().small_face_for(480, 640) == 24 and DetectorConfig().min_face_for(480, 640) == 60
    assert DetectorConfig(min_face_frac=0.1, small_face_frac=0.1).small_face_for(480, 640) is None  # not smaller
    with pytest.raises(ConfigError, match="small_face_frac must be None or in"):
        DetectorConfig(small_face_frac=0.2)


def test_the_small_face_run_comes_every_eighth_empty_run_and_on_every_run_while_it_finds():
    """A face-free camera detects on every frame: a second, finer run on each of them cost a
    third of its FPS (107 -> 35 on a face-free 640x480 clip). It comes on the first empty run
    and every 8th after; a face it finds keeps it coming (region scans look for 1/8 faces)."""
    from rtliveness.config import DetectorConfig
    from rtliveness.runtime.pipeline import LivenessPipeline

    det = _SeesSmallFacesOnly(30, FaceBox(10, 10, 40, 40, 0.99))
    det.show = False
    real = det.detect
    det.detect = lambda image, region=None, min_face=None: real(image, region, min_face) if det.show else (
        det.asked.append((image.shape[:2], min_face)) or ())
    p = LivenessPipeline(det, FakeScorer(), detector_config=DetectorConfig(full_every=1), repeat_identical=False)
    frame = np.full((480, 640, 3), 90, np.uint8)
    for _ in range(17):  # no face anywhere: a detector run on every frame
        p.step(frame)
    fine = [m for _, m in det.asked]
    assert fine.count(24) == 3 and fine.count(None) == 17  # runs 0, 8 and 16 looked for small faces
    det.asked, det.show = [], True
    found_at = next(i for i in range(8) if p.step(frame).faces)  # a small face appears: found within 8 runs
    assert found_at == 7  # the run after 17 empty ones is the 18th: the next small run is the 25th
    det.asked = []
    results = [p.step(frame) for _ in range(9)]  # then kept: every detector run (every 3rd frame) looks small again
    assert all(len(r.faces) == 1 for r in results) and results[-1].faces[0].label != "pending"
    assert [m for _, m in det.asked] == [None, 24] * 3


def test_haar_gets_no_second_look_for_small_faces(tmp_path, tiny_weights):
    """Final review: Haar has no confidence to weed out small false finds; at 1/20 it found two
    'faces' in assets/dogs.jpg (a collar tag, fur), scored live and spoof, and kept them."""
    import subprocess
    import sys
    from pathlib import Path

    from rtliveness.config import DetectorConfig

    assert DetectorConfig(kind="haar").small_face_for(480, 640) is None
    assert DetectorConfig(kind="mtcnn").small_face_for(480, 640) == 24
    exe = Path(sys.executable).with_name("rtliveness")
    dogs = Path(__file__).resolve().parents[1] / "assets" / "dogs.jpg"
    r = subprocess.run([str(exe), "run", str(dogs), "--detector", "haar", "--weights", str(tiny_weights), "--device", "cpu"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stderr.rstrip().endswith("no faces found."), r.stderr


def test_one_mtcnn_shared_by_threads_searches_each_call_at_its_own_minimum(monkeypatch):
    """Final review: the minimum face was set on the shared MTCNN, then read by its detect(); a
    stream on another thread (serve, the fleet's workers share one detector) ran with the other's
    minimum — 431 of 600 calls in a review's stand-in."""
    import threading
    import time as _time

    from facenet_pytorch import MTCNN

    from rtliveness.config import DetectorConfig
    from rtliveness.runtime.detect import build_detector

    seen = []

    def slow_detect(self, img, landmarks=False):
        asked = self.min_face_size
        _time.sleep(0.002)  # another thread's call in between
        seen.append((threading.current_thread().name, asked, self.min_face_size))
        return None, [None]

    monkeypatch.setattr(MTCNN, "detect", slow_detect)
    det = build_detector(DetectorConfig(), "cpu")
    image = np.zeros((120, 160, 3), np.uint8)

    def work(min_face):
        for _ in range(40):
            det.detect(image, min_face=min_face)

    threads = [threading.Thread(target=work, args=(m,), name=str(m)) for m in (20, 60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 80 and all(int(name) == asked == after for name, asked, after in seen)


# ------------------------------------------------------------------ another face in the same box
class _TwoLooks(FakeScorer):
    """Embeds a bright crop and a dark crop as orthogonal vectors (cosine distance 1), crops of
    the same look as one vector (distance 0); p_spoof = 0.9 for a window holding any dark crop."""

    def embed(self, crops):
        self.embedded += len(crops)
        return np.stack([np.eye(512, dtype=np.float32)[int(c.mean() < 128)] for c in crops])

    def head(self, windows):
        return np.where(np.asarray(windows)[:, :, 1].max(axis=1) > 0, 0.9, 0.1)


@pytest.mark.parametrize("restart, labels", [
    (0.10, ["pending"] * 4 + ["live"] * 3 + ["pending"] * 4 + ["spoof"] * 2),
    (None, ["pending"] * 4 + ["live"] * 3 + ["spoof"] * 6),
])
def test_another_face_in_a_tracks_box_restarts_its_window(restart, labels):
    """Tracking review: the tracker follows boxes, so a printed photo raised where a live face was
    kept the face's id, and the next 4 windows mixed live and photo crops (the first of them
    scored live: decide() said live with its box on the photo). A jump in the crop embedding now
    restarts the window; the id stays, and the track summary counts only whole windows."""
    from rtliveness.config import TrackerConfig

    det = FakeDetector([(B(10, 10),)])
    p = fake_pipeline(det, _TwoLooks(), tracker_config=TrackerConfig(restart_distance=restart))
    results = list(p.run(ArraySource(frames(7, value=200) + frames(6, value=30))))
    assert [r.faces[0].label for r in results] == labels
    assert {r.faces[0].track_id for r in results} == {1}
    assert p.track_summaries()[0].windows == (5 if restart else 9)


def test_a_photo_raised_in_place_of_a_live_face_is_not_decided_live():
    """Real MTCNN, the bundled weights: the live webcam clip, then from frame 6 a printed photo at
    the same place. decide() said live on frame 9 (its windows mixed the live face's crops with
    the photo's) with Decision.box on the photo; the window restarts on the photo now."""
    from conftest import read_frames
    from rtliveness.config import TrackerConfig
    from rtliveness.runtime.decision import decide

    examples = Path(__file__).resolve().parents[1] / "examples"
    clip = read_frames(examples / "live_webcam.mov")[:6] + read_frames(examples / "attack_printed.mp4")[:24]
    with LivenessPipeline.from_config(PipelineConfig(device="cpu")) as pl:
        d = decide(pl, clip, timeout_s=600)
    assert (d.label, d.track_id, d.frames) == ("spoof", 1, 15)
    with LivenessPipeline.from_config(PipelineConfig(device="cpu", tracker=TrackerConfig(restart_distance=None))) as pl:
        mixed = decide(pl, clip, timeout_s=600)
    assert (mixed.label, mixed.track_id, mixed.frames) == ("live", 1, 9)  # what it was


class _GateDetector(FakeDetector):
    """A FakeDetector that, on its ``at``-th call, says so (``inside``) and waits ``hold`` seconds
    (or until ``go`` is set) before it answers, or raises ``fail`` then."""

    def __init__(self, at: int = 3, hold: float = 0.3, fail: BaseException | None = None, on_enter=None) -> None:
        super().__init__([(B(10, 10),)])
        import threading

        self.at, self.hold, self.fail, self.on_enter = at, hold, fail, on_enter
        self.inside, self.go = threading.Event(), threading.Event()

    def detect(self, image_bgr, region=None, min_face=None):
        if self.calls + 1 == self.at:
            self.inside.set()
            if self.on_enter is not None:
                self.on_enter()
            self.go.wait(self.hold)
            if self.fail is not None:
                self.calls += 1
                raise self.fail
        return super().detect(image_bgr, region, min_face)


def _stepping(p, n: int = 1000):
    """A thread stepping ``p`` ``n`` times; ``out`` gets the results and the error that stopped it."""
    import threading

    out: dict = {"results": [], "error": None}

    def work():
        try:
            for img in frames(n):
                out["results"].append(p.step(img))
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            out["error"] = exc

    t = threading.Thread(target=work, daemon=True)
    t.start()
    return t, out


def test_close_from_another_thread_finishes_the_step_in_flight_then_steps_are_closed_errors():
    """API review: the kiosk's UI thread closing while its camera thread steps gave, in ~1 of 3
    runs, ``AttributeError: 'NoneType' object has no attribute 'embed'`` (close() set the scorer
    to None under the step). close() waits for the step in flight; the next step is a ClosedError."""
    import time as _time

    import threading

    for _ in range(3):
        det = _GateDetector(at=3, hold=30.0)  # held until go: no race with a slow machine
        scorer = FakeScorer()
        p = fake_pipeline(det, scorer)
        t, out = _stepping(p)
        assert det.inside.wait(5)
        closer = threading.Thread(target=p.close, daemon=True)  # the step in flight is inside the detector
        closer.start()
        t0 = _time.monotonic()
        while not p._closed and _time.monotonic() - t0 < 5:
            _time.sleep(0.01)
        assert p._closed and closer.is_alive()  # closed at once, and waiting for the step in flight
        det.go.set()
        closer.join(5)
        assert not closer.is_alive()
        t.join(5)
        assert not t.is_alive()
        assert isinstance(out["error"], ClosedError), repr(out["error"])
        assert "step() after close()" in str(out["error"])
        assert len(out["results"]) == 3  # the step in flight finished, with its parts
        assert scorer.embedded == 3


def test_close_during_a_step_that_raises_returns_and_leaves_no_lock_behind():
    import threading
    import time as _time

    det = _GateDetector(at=2, hold=0.3, fail=RuntimeError("detector broke"))
    p = fake_pipeline(det, FakeScorer())
    t, out = _stepping(p)
    assert det.inside.wait(5)
    closer = threading.Thread(target=p.close, daemon=True)
    t0 = _time.monotonic()
    closer.start()
    closer.join(5)
    assert not closer.is_alive() and _time.monotonic() - t0 < 5  # no deadlock
    t.join(5)
    assert isinstance(out["error"], RuntimeError) and "detector broke" in str(out["error"])
    with pytest.raises(ClosedError, match=r"step\(\) after close\(\)"):
        p.step(frames(1)[0])
    p.close()  # idempotent


def test_close_from_inside_a_step_of_the_same_thread_does_not_deadlock():
    """A host closing from a callback inside step (a signal handler in the stepping thread): close
    cannot wait for that step; the step finishes and releases the parts when it returns."""
    holder: dict = {}
    det = _GateDetector(at=2, hold=0.0, on_enter=lambda: holder["p"].close())
    scorer = FakeScorer()
    p = holder["p"] = fake_pipeline(det, scorer)
    t, out = _stepping(p, n=5)
    t.join(5)
    assert not t.is_alive()
    assert len(out["results"]) == 2 and isinstance(out["error"], ClosedError)
    assert p.scorer is None and p.detector is None  # released when the step ended


def test_two_threads_stepping_one_pipeline_get_a_typed_error_instead_of_mixed_tracks():
    """Documented as unsupported, it silently mixed the two streams' tracks: the second caller
    gets a ConfigError; reset() from another thread during a step too."""
    from rtliveness.errors import ConfigError

    det = _GateDetector(at=2, hold=30.0)  # held until go
    p = fake_pipeline(det, FakeScorer())
    t, out = _stepping(p, n=3)
    assert det.inside.wait(5)
    msg = r"this pipeline is being stepped by another thread; use one pipeline per thread"
    with pytest.raises(ConfigError, match=r"^step\(\) while another thread is in step\(\): " + msg + "$"):
        p.step(frames(1)[0])
    with pytest.raises(ConfigError, match=msg):
        p.reset()
    det.go.set()
    t.join(5)
    assert out["error"] is None and len(out["results"]) == 3
    p.reset()  # one thread at a time is fine
    assert p.step(frames(1)[0]).frame_index == 3
    p.close()


@pytest.mark.parametrize("kw, message", [
    ({"tracker_config": "x"}, "LivenessPipeline: tracker_config must be a TrackerConfig (or None for the defaults), "
                              "e.g. TrackerConfig(), got 'x'"),
    ({"detector_config": 3}, "LivenessPipeline: detector_config must be a DetectorConfig (or None for the defaults), "
                             "e.g. DetectorConfig(), got 3"),
    ({"cpu_threads": -4}, "LivenessPipeline: cpu_threads must be an integer >= 0 (0 or None = leave torch's setting "
                          "alone), got -4"),
    ({"cpu_threads": 2.5}, "LivenessPipeline: cpu_threads must be an integer >= 0"),
    ({"max_summaries": "many"}, "LivenessPipeline: max_summaries must be an integer >= 0, got 'many'"),
])
def test_wrong_kind_constructor_arguments_are_config_errors_at_the_call(kw, message):
    """API review: these constructed fine and failed on the first step (AttributeError; torch's
    ``RuntimeError: set_num_threads expects a positive integer``)."""
    from rtliveness.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        LivenessPipeline(FakeDetector([(B(10, 10),)]), FakeScorer(), **kw)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_cpu_threads_zero_leaves_torch_alone_and_numpy_counts_pass():
    p = LivenessPipeline(FakeDetector([(B(10, 10),)]), FakeScorer(), cpu_threads=0)
    assert p.cpu_threads is None
    p.step(frames(1)[0])  # 0 used to reach torch.set_num_threads(0) on the first step
    assert LivenessPipeline(FakeDetector([()]), FakeScorer(), cpu_threads=np.int64(1)).cpu_threads == 1


@pytest.mark.parametrize("kw, message", [
    ({"jsonl": 5}, "jsonl= must be a path (str or pathlib.Path) or None, got 5"),
    ({"out": 5}, "out= must be a path (str or pathlib.Path) or None, got 5"),
    ({"jsonl": b"x.jsonl"}, "jsonl= must be a path (str or pathlib.Path) or None, got b'x.jsonl'"),
    ({"show": "no"}, "show= must be true or false, got 'no'"),
])
def test_process_source_refuses_wrong_kinds_of_outputs_with_a_config_error(kw, message, tmp_path):
    """API review: ``process_source(pipeline, source, jsonl=5)`` was a bare TypeError from Path();
    the sinks the caller passed are still closed."""
    from rtliveness.errors import ConfigError
    from rtliveness.runtime.app import process_source

    closed = []

    class Mine:
        def write(self, frame, result):
            pass

        def close(self):
            closed.append(True)

    p = fake_pipeline(FakeDetector([()]), FakeScorer())
    with pytest.raises(ConfigError) as e:
        process_source(p, ArraySource(frames(3)), [Mine()], **kw)
    assert str(e.value) == message and closed == [True]
    assert process_source(p, ArraySource(frames(2)), jsonl=tmp_path / "ok.jsonl", show=0).frames == 2
    assert process_source(p, ArraySource(frames(2)), show=None).frames == 2  # None: no window, as before
