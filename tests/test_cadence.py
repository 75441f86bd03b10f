"""The opt-in steady detection cadence (DetectorConfig.steady_every / steady_iou): the detector
runs less often only while every tracked face is where the tracker predicted it, and every new,
lost or jumpy face brings the normal cadence back at once. Off by default: a fixed cadence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import FakeScorer
from rtliveness.config import DetectorConfig, PipelineConfig
from rtliveness.errors import ConfigError
from rtliveness.runtime.pipeline import LivenessPipeline
from rtliveness.runtime.sources import FileSource
from rtliveness.runtime.track import IouTracker
from rtliveness.types import FaceBox

ROOT = Path(__file__).resolve().parents[1]
RTLIVENESS = Path(sys.executable).with_name("rtliveness")


def B(x, y, s=60):
    return FaceBox(x, y, x + s, y + s, 0.99)


class ScriptedDetector:
    """Answers each call with ``scene(frame_index)``; records the frames it ran on."""

    def __init__(self, scene):
        self.scene = scene
        self.frame = 0
        self.ran_on: list[int] = []

    def detect(self, image_bgr, region=None, min_face=None):
        self.ran_on.append(self.frame)
        return self.scene(self.frame)


def run(scene, n, **cfg):
    det = ScriptedDetector(scene)
    config = DetectorConfig(full_every=1, **{"steady_every": 5, "small_face_frac": None, **cfg})  # one run each
    p = LivenessPipeline(det, FakeScorer(), detector_config=config, repeat_identical=False)
    results = []
    for i in range(n):
        det.frame = i
        results.append(p.step(np.full((240, 320, 3), 90, np.uint8)))
    return det.ran_on, results


def test_tracker_is_steady_only_after_three_detections_where_it_predicted():
    t = IouTracker()
    assert not t.steady(0.8)  # nothing tracked
    for k in range(3):
        assert not t.steady(0.8)  # a new track: no history yet
        t.update((B(10 + 6 * k, 20),))
    assert t.steady(0.8)  # moving 6 px per detection, found where the constant velocity put it
    t.update((B(40, 20),))  # jumped: found 16 px from the predicted place (IoU 0.58)
    assert not t.steady(0.8) and t.steady(0.5)
    t.update(())  # missed by a detection
    assert not t.steady(0.0)


def test_a_still_face_is_detected_every_third_frame_then_every_fifth():
    ran, res = run(lambda i: (B(100, 80),), 30)
    assert ran == [0, 3, 6, 11, 16, 21, 26]
    assert [r.detected for r in res[:12]] == [True, False, False] * 2 + [True, False, False, False, False, True]
    assert all(len(r.faces) == 1 and r.faces[0].track_id == 1 for r in res)


def test_a_fixed_cadence_by_default_or_when_steady_every_is_not_longer():
    assert DetectorConfig().steady_every is None
    assert run(lambda i: (B(100, 80),), 16, steady_every=None)[0] == [0, 3, 6, 9, 12, 15]
    assert run(lambda i: (B(100, 80),), 16, steady_every=2)[0] == [0, 3, 6, 9, 12, 15]
    assert run(lambda i: (B(100, 80),), 7, every_n=1, steady_every=None)[0] == list(range(7))
    assert run(lambda i: (B(100, 80),), 14, every_n=1, steady_every=4)[0] == [0, 1, 2, 6, 10]


def test_a_new_face_brings_the_normal_cadence_back_at_once():
    ran, _ = run(lambda i: (B(100, 80),) if i < 12 else (B(100, 80), B(220, 150)), 30)
    # steady from frame 6; the second face is found at the run on frame 16, then three short
    # gaps until it too has three detections behind it
    assert ran == [0, 3, 6, 11, 16, 19, 22, 27]


def test_a_face_that_jumps_brings_the_normal_cadence_back():
    ran, _ = run(lambda i: (B(100, 80),) if i < 11 else (B(118, 80),), 24)
    # found at frame 11 18 px right of where the tracker carried it (IoU 0.54 < 0.8)
    assert ran == [0, 3, 6, 11, 14, 19]


def test_a_lost_face_brings_the_normal_cadence_back_then_every_frame():
    ran, res = run(lambda i: (B(100, 80),) if i < 11 else (), 20)
    assert ran[:4] == [0, 3, 6, 11]
    assert ran[4:] == [14, 17, 18, 19]  # missed: the normal cadence; evicted after 3 misses, then every frame
    assert res[-1].faces == ()


@pytest.mark.parametrize("kw,msg", [({"steady_every": 0}, r"^--steady-detect-every \(steady_every\) must be an integer >= 1 \(or None: a fixed cadence\), got 0$"),
                                    ({"steady_every": 2.5}, r"^DetectorConfig: steady_every must be an integer \(or None\), got 2.5$"),
                                    ({"steady_iou": 0.0}, r"steady_iou must be in \(0, 1\]")])
def test_bad_steady_settings_are_config_errors(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        DetectorConfig(**kw)


def test_cli_rejects_a_bad_steady_cadence_in_one_line(tmp_path):
    proc = subprocess.run([str(RTLIVENESS), "run", str(ROOT / "examples" / "live_webcam.mov"), "--steady-detect-every",
                           "0", "--no-show"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "rtliveness: error: --steady-detect-every (steady_every) must be an integer >= 1 (or None: a fixed cadence), got 0"]


def test_real_mtcnn_on_a_real_video_runs_less_often_with_the_same_faces():
    def runs(detector):
        cfg = PipelineConfig(backend="torch", device="cpu", detector=detector)
        with LivenessPipeline.from_config(cfg) as pipe, FileSource(ROOT / "tests" / "data" / "talking_head.mov") as src:
            res = list(pipe.run(src))
        return sum(r.detected for r in res), [len(r.faces) for r in res], {r.faces[0].track_id for r in res if r.faces}

    fixed = runs(DetectorConfig())
    steady = runs(DetectorConfig(steady_every=5))
    assert fixed[1] == steady[1] == [1] * len(fixed[1])  # the face on every frame, both ways
    assert steady[2] == fixed[2] == {1}  # one track all along
    assert steady[0] < 0.8 * fixed[0]  # at least a fifth fewer detector runs
