"""The low-light lift: exact gains, the cap, the untouched bright crop, validation, and that the
loop (API, CLI, service and fleet configs) applies it to the crops it scores and to nothing else."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from conftest import FakeDetector, FakeScorer, fake_pipeline
from rtliveness.config import LOW_LIGHT_MAX_GAIN, LOW_LIGHT_TARGET, PipelineConfig, check_low_light_target
from rtliveness.errors import ConfigError
from rtliveness.runtime.exposure import lift_low_light
from rtliveness.types import FaceBox


def grey(value: int, side: int = 8) -> np.ndarray:
    return np.full((side, side, 3), value, np.uint8)


def test_a_dark_crop_is_lifted_to_the_target_mean():
    out = lift_low_light(grey(40), 0.35)
    # gain 0.35 / (40 / 255) = 2.23125 -> 40 * 2.23125 = 89.25 -> 89
    assert out.dtype == np.uint8 and np.all(out == 89)
    assert abs(out.mean() / 255.0 - 0.35) < 1 / 255


def test_the_gain_is_capped_and_saturation_clips():
    assert np.all(lift_low_light(grey(10), 0.35) == 40)  # x4, not x8.9
    c = grey(10)
    c[0, 0] = 250  # a highlight: x4 would be 1000
    out = lift_low_light(c, 0.35)
    assert out[0, 0].tolist() == [255, 255, 255] and out[1, 1].tolist() == [40, 40, 40]
    assert LOW_LIGHT_MAX_GAIN == 4.0


def test_a_crop_at_or_above_the_target_and_target_zero_are_untouched():
    bright = grey(90)  # 90 / 255 = 0.353 >= 0.35
    assert lift_low_light(bright, 0.35) is bright
    dark = grey(20)
    assert lift_low_light(dark, 0.0) is dark


def test_colour_ratios_are_kept():
    c = np.zeros((4, 4, 3), np.uint8)
    c[...] = (10, 20, 30)  # B, G, R
    out = lift_low_light(c, 0.35)
    b, g, r = (int(v) for v in out[0, 0])
    assert (b, g, r) == (40, 80, 120)  # grey mean 21.1 -> capped x4


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "x", None])
def test_bad_targets_are_config_errors(bad):
    with pytest.raises(ConfigError, match=r"--low-light-target \(low_light_target\) must be in \[0, 1\)"):
        check_low_light_target(bad)
    with pytest.raises(ConfigError):
        lift_low_light(grey(20), bad)  # the function checks too: a NaN target never makes garbage pixels
    with pytest.raises(ConfigError):
        PipelineConfig(low_light_target=bad)


def test_the_lift_is_off_by_default():
    """Round 20's decision (weights/reports/round20/): off unless the user turns it on."""
    assert LOW_LIGHT_TARGET == 0.0
    assert PipelineConfig().low_light_target == 0.0
    box = FaceBox(8, 8, 56, 56, 0.99)
    scorer = CropScorer()
    pipe = fake_pipeline(FakeDetector([(box,)]), scorer)  # no low_light_target given
    pipe.step(np.full((64, 64, 3), 30, np.uint8))
    assert np.all(scorer.crops[0] == 30)


def test_configs_carry_the_target():
    assert PipelineConfig(low_light_target=0.3).low_light_target == 0.3
    from rtliveness.fleet.config import FleetConfig
    from rtliveness.serve.config import ServeConfig

    assert ServeConfig(low_light_target=0.3).low_light_target == 0.3
    with pytest.raises(ConfigError):
        ServeConfig(low_light_target=2)
    assert FleetConfig(sources=("a.mp4",), low_light_target=0.3).low_light_target == 0.3
    with pytest.raises(ConfigError):
        FleetConfig(sources=("a.mp4",), low_light_target=-1)


class CropScorer(FakeScorer):
    """Keeps every crop it is given."""

    def __init__(self):
        super().__init__(input_size=16)
        self.crops: list[np.ndarray] = []

    def embed(self, crops):
        self.crops.extend(c.copy() for c in crops)
        return super().embed(crops)


def run_frames(frames, target):
    box = FaceBox(8, 8, 56, 56, 0.99)
    scorer = CropScorer()
    pipe = fake_pipeline(FakeDetector([(box,)]), scorer, low_light_target=target)
    results = [pipe.step(f) for f in frames]
    return scorer.crops, results


def test_the_loop_scores_lifted_crops_and_leaves_the_frame_alone():
    frames = [np.full((64, 64, 3), 30, np.uint8) for _ in range(6)]
    off, r_off = run_frames(frames, 0.0)
    on, r_on = run_frames(frames, 0.35)
    assert len(off) == len(on) == 6
    assert all(np.all(c == 30) for c in off)
    assert all(np.all(c == 89) for c in on)  # 30 * min(0.35 / (30/255), 4) = 89.25
    assert all(np.all(f == 30) for f in frames)  # the caller's frames are not touched
    p_off = [f.faces[0].p_spoof for f in r_off if f.faces and f.faces[0].p_spoof is not None]
    p_on = [f.faces[0].p_spoof for f in r_on if f.faces and f.faces[0].p_spoof is not None]
    assert p_off and math.isclose(p_off[-1], 30 / 255, rel_tol=1e-6)
    assert p_on and math.isclose(p_on[-1], 89 / 255, rel_tol=1e-6)


def test_bright_frames_score_identically_with_and_without_the_lift():
    rng = np.random.default_rng(0)
    frames = [rng.integers(100, 200, (64, 64, 3), dtype=np.uint8) for _ in range(6)]
    off, _ = run_frames(frames, 0.0)
    on, _ = run_frames(frames, 0.35)
    assert all(np.array_equal(a, b) for a, b in zip(off, on))


def test_the_crop_mean_is_opencvs_grey():
    c = np.zeros((2, 2, 3), np.uint8)
    c[..., 2] = 60  # red only: grey = 0.299 * 60 = 17.9 -> 18
    assert cv2.cvtColor(c, cv2.COLOR_BGR2GRAY).mean() == 18
    out = lift_low_light(c, 0.35)
    assert out[0, 0].tolist() == [0, 0, 240]  # 89.25 / 18 > 4: capped


def _scaled_clip(src, out, factor: float, n: int = 30):
    from conftest import read_frames, write_video

    frames = read_frames(src)[:n]
    return write_video(out, [np.clip(f.astype(np.float32) * factor, 0, 255).astype(np.uint8) for f in frames],
                       fourcc="MJPG")


def _summary(clip, target: str, tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("rtliveness")
    jsonl = tmp_path / f"{clip.stem}_{target}.jsonl"
    r = subprocess.run([str(exe), "run", str(clip), "--jsonl", str(jsonl), "--low-light-target", target],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    tracks = json.loads(jsonl.read_text().splitlines()[-1])["summary"]["tracks"]
    assert len(tracks) == 1 and tracks[0]["windows"] == 26
    return tracks[0]


@pytest.mark.slow
def test_run_keeps_a_real_face_in_a_dark_room_live_with_the_lift(tmp_path, talking_head_path):
    """Real MTCNN, the bundled weights, ``rtliveness run``: the real talking head at a quarter of
    its light is rejected without the lift and accepted with it; at full light the lift never
    triggers and every figure is the same."""
    dark = _scaled_clip(talking_head_path, tmp_path / "dark.avi", 0.25)
    off, on = _summary(dark, "0", tmp_path), _summary(dark, "0.35", tmp_path)
    assert off["label"] == "spoof" and off["mean_p_spoof"] > 0.45
    assert on["label"] == "live" and on["mean_p_spoof"] < 0.1
    clean = _scaled_clip(talking_head_path, tmp_path / "clean.avi", 1.0)
    assert _summary(clean, "0", tmp_path) == _summary(clean, "0.35", tmp_path)


def test_the_service_gives_every_stream_the_configured_lift():
    from rtliveness.serve.config import ServeConfig
    from rtliveness.serve.engine import Engine

    box = FaceBox(8, 8, 56, 56, 0.99)
    for target in (0.0, 0.35):
        engine = Engine(ServeConfig(low_light_target=target), scorer=CropScorer(), detector=FakeDetector([(box,)]))
        pipe = engine.pipeline()
        assert pipe.low_light_target == target
        for _ in range(5):
            pipe.step(np.full((64, 64, 3), 30, np.uint8))
        assert np.all(engine.scorer.inner.crops[-1] == (89 if target else 30))
        assert engine.health()["model"]["low_light_target"] == target  # a kiosk can check it


def _first_frame_and_face():
    from pathlib import Path

    cap = cv2.VideoCapture(str(Path(__file__).resolve().parents[1] / "examples" / "live_webcam.mov"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    return frame, FaceBox(119, 51, 202, 159)  # where MTCNN finds the face in the first frame


def test_grey_faces_are_told_from_colour_ones_after_a_video_codec(tmp_path):
    from conftest import read_frames, write_video
    from rtliveness.runtime.exposure import looks_grey

    frame, b = _first_frame_and_face()
    face = lambda img: img[int(b.y1):int(b.y2), int(b.x1):int(b.x2)]  # noqa: E731
    grey = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    assert looks_grey(face(frame)) is False and looks_grey(face(grey)) is True
    assert looks_grey(face(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))) is True  # one channel
    for fourcc, ext in (("mp4v", "mp4"), ("MJPG", "avi")):  # chroma rounding of grey stored as colour
        (decoded,) = read_frames(write_video(tmp_path / f"g.{ext}", [grey], fourcc=fourcc))
        assert looks_grey(face(decoded)) is True
    assert looks_grey(face((frame * 0.3).astype(np.uint8))) is False  # a dim colour face keeps its colour
    assert looks_grey(face((grey * 0.1).astype(np.uint8))) is None  # too dark to tell
    assert looks_grey(np.full((4, 4, 3), 128, np.uint8)) is None  # too small to tell


def test_the_grey_watch_needs_five_judged_faces_all_grey():
    from rtliveness.runtime.exposure import GreyFaceWatch
    from rtliveness.types import Frame, FrameResult, Verdict

    frame, b = _first_frame_and_face()
    grey = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)

    def feed(images):
        watch = GreyFaceWatch()
        for i, img in enumerate(images):
            watch.write(Frame(i, img, float(i)), FrameResult(i, float(i), (Verdict(1, b, None, "pending"),)))
        return watch

    assert feed([grey] * 5).grey and not feed([grey] * 4).grey  # four faces are too few to warn
    assert not feed([grey] * 4 + [frame] + [grey] * 5).grey  # one colour face among the first five: no warning
    assert feed([(grey * 0.05).astype(np.uint8)] * 3 + [grey] * 5).grey  # faces too dark to judge are skipped


def test_run_warns_about_grey_faces_with_real_mtcnn_and_the_bundled_weights(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from conftest import write_video

    src = cv2.VideoCapture(str(Path(__file__).resolve().parents[1] / "examples" / "live_webcam.mov"))
    frames = [src.read()[1] for _ in range(12)]
    src.release()
    grey = write_video(tmp_path / "grey.mp4", [cv2.cvtColor(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
                                               for f in frames])
    colour = write_video(tmp_path / "colour.mp4", frames)
    exe = Path(sys.executable).with_name("rtliveness")
    warning = ("rtliveness: warning: the faces have no colour (an infrared or night-mode camera?); the bundled model "
               "scores many grey live faces as attacks: light the scene so the camera stays in colour, or fine-tune on "
               "your own grey recordings (README, Limits)")
    for video, warned in ((grey, True), (colour, False)):
        r = subprocess.run([str(exe), "run", str(video), "--backend", "torch", "--device", "cpu"], capture_output=True,
                           text=True, timeout=180)
        assert r.returncode == 0 and "track 1:" in r.stderr, r.stderr
        assert (r.stderr.strip().splitlines()[-1] == warning) is warned and ("warning" in r.stderr) is warned, r.stderr
