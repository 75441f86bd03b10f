import time

import pytest

from conftest import FakeDetector, FakeScorer, fake_pipeline
from rtliveness.runtime.decision import DecisionRule, decide, decision_bounds
from rtliveness.errors import ConfigError
from rtliveness.runtime.sources import ArraySource
from rtliveness.types import FaceBox, Frame, FrameResult, Verdict

import numpy as np


def R(i, *faces):
    return FrameResult(i, i / 25, tuple(Verdict(t, FaceBox(0, 0, 10, 10), p, "pending" if p is None else ("spoof" if p >= 0.5 else "live")) for t, p in faces))


def test_rule_needs_consecutive_confident_windows():
    rule = DecisionRule(0.5, windows=3, margin=0.1)
    assert rule.update(R(0, (1, None))) is None
    assert rule.update(R(1, (1, 0.2))) is None
    assert rule.update(R(2, (1, 0.45))) is None  # inside the margin: not confident
    assert rule.update(R(3, (1, 0.1))) is None
    assert rule.update(R(4, (1, 0.3))) is None
    label, tid, p = rule.update(R(5, (1, 0.35)))
    assert (label, tid) == ("live", 1) and p == pytest.approx(0.25)  # the mean of the last 3, not the last


def test_margin_is_the_same_log_odds_distance_at_every_threshold():
    assert decision_bounds(0.5, 0.1) == pytest.approx((0.4, 0.6))
    assert decision_bounds(0.5, 0.0) == pytest.approx((0.5, 0.5))
    # the balanced and strict levels of the shipped model sit far below the margin: a live side remains
    for t in (0.0198, 0.0029, 0.4485, 0.97):
        lo, hi = decision_bounds(t, 0.1)
        assert 0 < lo < t < hi < 1
        logit = lambda p: np.log(p / (1 - p))
        assert logit(t) - logit(lo) == pytest.approx(np.log(0.6 / 0.4))
        assert logit(hi) - logit(t) == pytest.approx(np.log(0.6 / 0.4))
    assert decision_bounds(0.0198, 0.1) == pytest.approx((0.013288, 0.029409), abs=1e-6)


@pytest.mark.parametrize("margin", [0.5, -0.01, float("nan")])
def test_decision_bounds_refuses_a_margin_outside_its_range(margin):
    """The one check, in decision_bounds: the public function, DecisionRule and decide all get it."""
    with pytest.raises(ConfigError, match=r"margin must be in \[0, 0\.5\)"):
        decision_bounds(0.4, margin)
    with pytest.raises(ConfigError, match="margin must be"):
        DecisionRule(0.4, windows=3, margin=margin)


@pytest.mark.parametrize("threshold", [42, 1.0, 0.0, -0.1, float("nan"), None, "half"])
def test_a_threshold_outside_0_1_is_refused_not_clamped(threshold):
    """API review: DecisionRule(42), (1.0) or (nan) clamped the threshold, and a printed attack at
    mean p_spoof 0.991 was then decided live; None raised a bare TypeError."""
    advice = "; give the pipeline's own, pipeline.threshold (its weights' or the security level's)"
    for make, name in ((lambda: decision_bounds(threshold, 0.1), "threshold"),
                       (lambda: DecisionRule(threshold, windows=1, margin=0.1), "DecisionRule: threshold")):
        with pytest.raises(ConfigError) as err:
            make()
        assert str(err.value) == f"{name} must be in (0, 1), got {threshold!r}{advice}"
    assert DecisionRule(0.9, windows=1, margin=0.0).update(R(0, (1, 0.991)))[0] == "spoof"


def test_decide_with_its_arguments_swapped_says_which_comes_first():
    p = fake_pipeline(FakeDetector([()]), FakeScorer())
    src = ArraySource([np.zeros((40, 50, 3), np.uint8)])
    for args in ((src, p), (None, src)):
        with pytest.raises(ConfigError) as err:
            decide(*args)
        assert str(err.value) == ("decide() takes the pipeline first, then the frame source: decide(pipeline, source); "
                                  f"got {type(args[0]).__name__} as the pipeline")


def test_logodds_pair_inverts_and_clips():
    from rtliveness.logodds import logit, sigmoid

    p = np.array([1e-9, 0.0198, 0.5, 0.4206, 1 - 1e-9])
    assert np.allclose(sigmoid(logit(p)), p, rtol=1e-12, atol=0)
    assert float(logit(0.6)) == pytest.approx(np.log(1.5), abs=1e-15)
    assert float(sigmoid(0.0)) == 0.5
    with np.errstate(over="raise"):  # clipped at +-60: no overflow for a huge logit
        assert sigmoid(np.array([-1e6, 1e6])).tolist() == pytest.approx([0.0, 1.0], abs=1e-26)


def test_rule_decides_live_at_a_low_threshold():
    """At threshold 0.02 (the `balanced` level) a live face scoring 0.003 is decided live; a
    plain threshold - margin rule left no live side there (it needed p_spoof < -0.08)."""
    rule = DecisionRule(0.02, windows=3, margin=0.1)
    assert rule.update(R(0, (1, 0.003))) is None
    assert rule.update(R(1, (1, 0.004))) is None
    assert rule.update(R(2, (1, 0.003)))[0] == "live"
    rule = DecisionRule(0.02, windows=2, margin=0.1)
    rule.update(R(0, (1, 0.025)))
    assert rule.update(R(1, (1, 0.025))) is None  # above the threshold, inside the margin
    rule.update(R(2, (1, 0.05)))
    assert rule.update(R(3, (1, 0.05)))[0] == "spoof"


def test_rule_resets_a_track_that_left():
    rule = DecisionRule(0.5, windows=2, margin=0.0)
    rule.update(R(0, (1, 0.9)))
    rule.update(R(1))
    assert rule.update(R(2, (1, 0.9))) is None
    assert rule.update(R(3, (1, 0.9)))[0] == "spoof"


def test_rule_starts_over_when_a_face_is_pending_again():
    """Diff review: a face pending again (its window restarted: another face in its box) kept the
    earlier face's windows in the count, so one window of the new face that fooled the model
    decided it with 4 stale ones (live, with its box on a photo)."""
    rule = DecisionRule(0.5, windows=3, margin=0.0)
    rule.update(R(0, (1, 0.1)))
    rule.update(R(1, (1, 0.1)))
    assert rule.update(R(2, (1, None))) is None  # the window restarted under the same id
    assert rule.update(R(3, (1, 0.2))) is None  # was: live, on 0.1, 0.1 and this one window
    assert rule.update(R(4, (1, 0.2))) is None
    assert rule.update(R(5, (1, 0.2)))[0] == "live"


def test_rule_validates():
    with pytest.raises(ConfigError):
        DecisionRule(0.5, windows=0)
    with pytest.raises(ConfigError):
        DecisionRule(0.5, margin=0.6)


def test_decide_returns_spoof():
    frames = [np.full((60, 80, 3), 230, np.uint8)] * 20
    p = fake_pipeline(FakeDetector([(FaceBox(5, 5, 40, 40),)]), FakeScorer())
    d = decide(p, ArraySource(frames), timeout_s=5, windows=3)
    assert d.label == "spoof" and d.track_id == 1 and d.frames == 7  # 4 pending + 3 windows
    assert d.windows == 3 and d.p_spoof == pytest.approx(230 / 255)
    # where the deciding face is (review: with a bystander in view, the host could not tell
    # which face decided)
    assert d.box == FaceBox(5, 5, 40, 40)
    assert decide(p, ArraySource(frames[:2]), timeout_s=5).box is None  # undecided: no face


@pytest.mark.parametrize("source,shown", [("clip.mp4", "'clip.mp4'"), (__import__("pathlib").Path("clip.mp4"), "'clip.mp4'"),
                                          (0, "0"), (np.int64(2), "2")])
def test_a_path_or_camera_index_given_for_frames_says_to_open_it(source, shown, tmp_path):
    """Review finding: run('clip.mp4') iterated the string letter by letter (FrameError 'got str'),
    run(Path) and run(0) were bare TypeErrors, process_source wrote a summary for '<str>'."""
    from rtliveness.runtime.app import process_source

    p = fake_pipeline(FakeDetector([()]), FakeScorer())
    want = f"takes frames, not the source {shown} itself: open it first, e.g. `with open_source({shown}) as src:` and pass src"
    with pytest.raises(ConfigError) as a:
        next(p.run(source))
    with pytest.raises(ConfigError) as b:
        decide(p, source)
    with pytest.raises(ConfigError) as c:
        process_source(p, source, jsonl=tmp_path / "o.jsonl")
    assert (str(a.value), str(b.value), str(c.value)) == (f"run() {want}", f"decide() {want}", f"process_source() {want}")
    assert not (tmp_path / "o.jsonl").exists()  # refused before any output


def test_one_image_given_for_frames_says_to_step_it():
    p = fake_pipeline(FakeDetector([()]), FakeScorer())
    with pytest.raises(ConfigError, match=r"not one image of shape \(60, 80, 3\): use step\(image\)"):
        next(p.run(np.zeros((60, 80, 3), np.uint8)))
    with pytest.raises(ConfigError, match="not bytes: decode the picture first"):
        next(p.run(b"\xff\xd8"))
    assert len(list(p.run(np.zeros((2, 60, 80, 3), np.uint8)))) == 2  # a stack of frames is frames
    assert len(list(p.run(np.zeros((5, 60, 80), np.uint8)))) == 5  # grey frames too
    with pytest.raises(ConfigError, match=r"shape \(60, 80\)"):
        p.run(np.zeros((60, 80), np.uint8))  # refused at the call, not at the first frame


def test_decide_undecided_when_the_source_ends():
    frames = [np.full((60, 80, 3), 230, np.uint8)] * 20
    d = decide(fake_pipeline(FakeDetector([()]), FakeScorer()), ArraySource(frames), timeout_s=5)
    assert d.label == "undecided" and d.frames == 20 and d.track_id is None and d.p_spoof is None


class SlowEndlessSource:
    """A camera that never ends: one frame every 20 ms, for as long as it is read."""

    def __init__(self):
        self.delivered = 0

    def __iter__(self):
        i = 0
        while True:
            time.sleep(0.02)
            self.delivered += 1
            yield Frame(i, np.full((60, 80, 3), 128, np.uint8), i * 0.02)
            i += 1
            if i >= 2000:  # a safety net only: the timeout must stop the loop long before
                return


def test_decide_times_out_on_an_endless_source():
    # a face whose score sits on the threshold (128/255 = 0.502 vs 0.5): never confident
    src = SlowEndlessSource()
    p = fake_pipeline(FakeDetector([(FaceBox(5, 5, 40, 40),)]), FakeScorer())
    t0 = time.monotonic()
    d = decide(p, src, timeout_s=0.5, windows=3, margin=0.1)
    took = time.monotonic() - t0
    assert d.label == "undecided" and d.track_id is None
    assert 0.5 <= d.seconds < 1.5 and took < 2  # stopped by the timeout, soon after it
    assert 5 < d.frames == src.delivered < 2000  # scored frames were seen; the source did not end


def test_one_rule_at_the_threshold_everywhere():
    """``p_spoof >= threshold`` is spoof in the verdicts, the track summaries and the metrics."""
    from rtliveness.runtime.decision import label_for
    from rtliveness.training.metrics import bpcer

    assert label_for(0.8, 0.8) == "spoof" and label_for(0.7999, 0.8) == "live"
    p = fake_pipeline(FakeDetector([(FaceBox(5, 5, 40, 40),)]), FakeScorer(threshold=0.8))
    res = list(p.run(ArraySource([np.full((60, 80, 3), 204, np.uint8)] * 6)))  # p_spoof = 204 / 255 = 0.8
    assert res[-1].faces[0].p_spoof == 0.8 and res[-1].faces[0].label == "spoof"
    assert p.track_summaries()[0].label == "spoof"
    assert bpcer([0.8], ["real"], 0.8) == 1.0  # a bona fide at the threshold counts as an attack


def test_a_verdict_repeated_on_identical_frames_is_not_a_new_window():
    """A frozen camera re-sending its picture, or a photo given again: the pipeline repeats the
    last verdict without scoring a window, and decide() counted every repeat: 5 'windows' from one
    (the Grace Hopper photo as copies decided 'live' with windows=5 while its track had 1 window)."""
    image = np.full((60, 80, 3), 40, np.uint8)

    def pipeline():
        return fake_pipeline(FakeDetector([(FaceBox(5, 5, 40, 40),)]), FakeScorer(), repeat_identical=True)

    p = pipeline()
    d = decide(p, ArraySource([image.copy() for _ in range(20)]), timeout_s=5, windows=5)
    assert d.label == "undecided" and d.frames == 20
    assert p.track_summaries()[0].windows == 1
    d = decide(pipeline(), ArraySource([image.copy() for _ in range(20)]), timeout_s=5, windows=1)
    assert (d.label, d.frames, d.windows) == ("live", 5, 1)  # a photo's one window, as the README says


@pytest.mark.parametrize("kw,words", [
    ({"timeout_s": float("nan")}, "timeout_s must be a finite number of seconds >= 0, got nan"),  # it never timed out
    ({"timeout_s": "2"}, "timeout_s must be a finite number of seconds >= 0, got '2'"),
    ({"timeout_s": -1}, "timeout_s must be a finite number of seconds >= 0, got -1"),
    ({"windows": 2.5}, "windows must be an integer >= 1, got 2.5"),
    ({"windows": None}, "windows must be an integer >= 1, got None"),
    ({"margin": "x"}, "margin must be a number in [0, 0.5), got 'x'")])
def test_decide_refuses_bad_arguments_in_one_line(kw, words):
    p = fake_pipeline(FakeDetector([()]), FakeScorer())
    with pytest.raises(ConfigError) as err:
        decide(p, ArraySource([np.zeros((60, 80, 3), np.uint8)]), **kw)
    assert str(err.value) == words
