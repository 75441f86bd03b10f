import pytest

from conftest import FakeDetector, FakeScorer, fake_pipeline
from rtliveness.decision import DecisionRule, decide
from rtliveness.errors import ConfigError
from rtliveness.sources import ArraySource
from rtliveness.types import FaceBox, FrameResult, Verdict

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
    label, tid, p = rule.update(R(5, (1, 0.2)))
    assert (label, tid) == ("live", 1) and p == pytest.approx(0.2)


def test_rule_resets_a_track_that_left():
    rule = DecisionRule(0.5, windows=2, margin=0.0)
    rule.update(R(0, (1, 0.9)))
    rule.update(R(1))
    assert rule.update(R(2, (1, 0.9))) is None
    assert rule.update(R(3, (1, 0.9)))[0] == "spoof"


def test_rule_validates():
    with pytest.raises(ConfigError):
        DecisionRule(0.5, windows=0)
    with pytest.raises(ConfigError):
        DecisionRule(0.5, margin=0.6)


def test_decide_returns_spoof_and_times_out():
    frames = [np.full((60, 80, 3), 230, np.uint8)] * 20
    p = fake_pipeline(FakeDetector([(FaceBox(5, 5, 40, 40),)]), FakeScorer())
    d = decide(p, ArraySource(frames), timeout_s=5, windows=3)
    assert d.label == "spoof" and d.track_id == 1 and d.frames == 7  # 4 pending + 3 windows
    p2 = fake_pipeline(FakeDetector([()]), FakeScorer())
    d2 = decide(p2, ArraySource(frames), timeout_s=5)
    assert d2.label == "undecided" and d2.frames == 20
