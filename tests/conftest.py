"""Shared fixtures: real face images shipped in tests/data, real videos written to tmp_path,
small random-weight checkpoints, and fakes for the detector and scorer."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
sys.path.insert(0, str(TESTS))

from rtliveness.model.checkpoint import ModelMeta, save_checkpoint  # noqa: E402
from rtliveness.model.spoofmodel import SpoofModel  # noqa: E402
from rtliveness.types import FaceBox  # noqa: E402


#: test files that start Ray (a local instance, or a local multi-node cluster on Ray's ports):
#: one xdist group, so that one worker runs them one after another (``--dist loadgroup``)
RAY_FILES = ("test_fleet.py", "test_fleet_units.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in RAY_FILES:
            item.add_marker(pytest.mark.xdist_group("ray"))


@pytest.fixture(scope="session")
def grace() -> np.ndarray:
    img = cv2.imread(str(DATA / "grace_hopper.jpg"))
    assert img is not None
    return img


@pytest.fixture(scope="session")
def two_faces() -> np.ndarray:
    img = cv2.imread(str(DATA / "two_faces.jpg"))
    assert img is not None
    return img


@pytest.fixture(scope="session")
def talking_head_path() -> Path:
    return DATA / "talking_head.mov"


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0, fourcc: str = "mp4v") -> Path:
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert vw.isOpened()
    for f in frames:
        vw.write(f)
    vw.release()
    return path


def moving_face_frames(face: np.ndarray, n: int, size=(320, 240), face_side: int = 120) -> list[np.ndarray]:
    """A real face image pasted on a grey canvas, drifting right by 1 px per frame."""
    w, h = size
    small = cv2.resize(face, (face_side, face_side), interpolation=cv2.INTER_AREA)
    out = []
    for i in range(n):
        canvas = np.full((h, w, 3), 90, np.uint8)
        x = 40 + i
        y = (h - face_side) // 2
        canvas[y:y + face_side, x:x + face_side] = small
        out.append(canvas)
    return out


@pytest.fixture()
def face_video(tmp_path, grace) -> Path:
    return write_video(tmp_path / "face.mp4", moving_face_frames(grace, 24))


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A random-weight SpoofModel checkpoint at 32 px (fast), with a sha256 sidecar."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    save_checkpoint(path, SpoofModel(), ModelMeta(input_size=32, crop_scale=1.5, threshold=0.5), write_sha256=True)
    return path


class FakeDetector:
    """Returns the boxes scripted per call (cycling the last one)."""

    def __init__(self, script: list[tuple[FaceBox, ...]]) -> None:
        self.script = script
        self.calls = 0
        self.regions: list = []  # the region of every call (None = the whole frame)

    def detect(self, image_bgr, region=None, min_face=None):
        i = min(self.calls, len(self.script) - 1)
        self.calls += 1
        self.regions.append(region)
        return self.script[i]


class FakeScorer:
    """Embedding = mean pixel value broadcast to 512; p_spoof = mean of the window / 255."""

    def __init__(self, threshold: float = 0.5, input_size: int = 16) -> None:
        self.meta = ModelMeta(input_size=input_size, crop_scale=1.0, threshold=threshold)
        self.embedded = 0
        self.windows = 0

    def embed(self, crops):
        self.embedded += len(crops)
        return np.stack([np.full(512, float(c.mean()), np.float32) for c in crops]) if crops else np.zeros((0, 512), np.float32)

    def head(self, windows):
        self.windows += len(windows)
        return np.asarray(windows, np.float64).mean(axis=(1, 2)) / 255.0


def fake_pipeline(detector, scorer, every_n: int = 1, **kw):
    """A LivenessPipeline over fakes, detecting on every frame unless told otherwise, always on
    the whole frame, at a fixed cadence (one scripted answer per frame; region scans, the
    steady cadence and the second run for small faces have their own tests)."""
    from rtliveness.config import DetectorConfig
    from rtliveness.runtime.pipeline import LivenessPipeline

    cfg = kw.pop("detector_config", DetectorConfig(every_n=every_n, full_every=1, small_face_frac=None))
    kw.setdefault("repeat_identical", False)  # the fakes' frames are often identical: every frame runs the loop
    return LivenessPipeline(detector, scorer, detector_config=cfg, **kw)


def read_frames(path) -> list[np.ndarray]:
    """Every frame OpenCV decodes from a video file, in order."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def make_dataset(root, per_class=6, persons=6, size=40, seed=0):
    """Real = smooth random blobs; attacks = the same with a class-specific high-frequency
    pattern (a stand-in for halftone / pixel grid / cut edge) — learnable in a few steps."""
    from rtliveness.training.attacks import CLASSES

    rng = np.random.default_rng(seed)
    for c in CLASSES:
        for k in range(per_class):
            person = f"p{k % persons}"
            d = root / c / f"{c}_{person}_{k:03d}"
            d.mkdir(parents=True)
            base = cv2.resize(rng.integers(0, 255, (4, 4, 3), dtype=np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)
            for j in range(5):
                img = base.astype(np.int16)
                if c != "real":
                    period = {"printed": 2, "replay": 3, "2dmask": 4}[c]
                    yy, xx = np.mgrid[0:size, 0:size]
                    img += (60 * (((xx + yy + j) // period) % 2))[..., None].astype(np.int16) - 30
                cv2.imwrite(str(d / f"{j}.png"), np.clip(img, 0, 255).astype(np.uint8))
    return root


def clip_verdicts(backend: str, clip: Path) -> list[list[tuple]]:
    """(track, label, p_spoof) of every face of every frame of ``clip``, bundled weights, ``backend``."""
    from rtliveness import LivenessPipeline, PipelineConfig
    from rtliveness.runtime.sources import FileSource

    with LivenessPipeline.from_config(PipelineConfig(backend=backend, device="cpu")) as pipe, FileSource(clip) as src:
        return [[(v.track_id, v.label, v.p_spoof) for v in r.faces] for r in pipe.run(src)]


def assert_same_verdicts(ref: list[list[tuple]], other: list[list[tuple]], max_dp: float) -> float:
    """Every frame's (track, label) equal; p_spoof within ``max_dp`` of ``ref``. Returns the largest difference."""
    assert [[(t, lab) for t, lab, _ in f] for f in ref] == [[(t, lab) for t, lab, _ in f] for f in other]
    diffs = [abs(a[2] - b[2]) for fa, fb in zip(ref, other) for a, b in zip(fa, fb) if a[2] is not None]
    assert diffs and max(diffs) <= max_dp, max(diffs) if diffs else None
    return max(diffs)
