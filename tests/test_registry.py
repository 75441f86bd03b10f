"""One registry per plug-in kind: detectors, scorer backends, attack classes. A toy detector and a
toy backend registered by name drive ``LivenessPipeline.from_config`` end to end."""

import numpy as np
import pytest

from rtliveness import register_backend, register_detector
from rtliveness.config import DetectorConfig, PipelineConfig
from rtliveness.errors import ConfigError
from rtliveness.model import backends
from rtliveness.model.checkpoint import ModelMeta
from rtliveness.runtime import detect
from rtliveness.runtime.detect import Detector, build_detector
from rtliveness.runtime.pipeline import LivenessPipeline
from rtliveness.types import FaceBox


@pytest.fixture(autouse=True)
def _private_registries(monkeypatch):
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(detect, "_DETECTORS", dict(detect._DETECTORS))
    monkeypatch.setattr(backends, "_BACKENDS", dict(backends._BACKENDS))


class ToyDetector:
    """Written to the Detector protocol: ``detect(image_bgr, region=None, min_face=None)``."""

    def __init__(self, config, device):
        self.config, self.device = config, device
        self.calls: list[tuple[tuple, int | None]] = []
        self.closed = False

    def detect(self, image_bgr, region=None, min_face=None):
        self.calls.append((image_bgr.shape, min_face))
        h, w = image_bgr.shape[:2]
        return (FaceBox(w * 0.25, h * 0.25, w * 0.5, h * 0.5, 0.97),)

    def close(self):
        self.closed = True


class ToyScorer:
    """Embeddings are the crop's mean; p_spoof is a fixed 0.8 (clearly not what a model gives)."""

    def __init__(self, spec):
        self.spec = spec
        self.meta = ModelMeta(input_size=24, crop_scale=1.2, threshold=0.6, security_levels=(("strict", 0.9),))
        self.crops: list[tuple] = []
        self.closed = False

    def embed(self, crops):
        self.crops += [c.shape for c in crops]
        return np.stack([np.full(512, float(c.mean()), np.float32) for c in crops])

    def head(self, windows):
        return np.full(len(windows), 0.8)

    def close(self):
        self.closed = True


def _register(made):
    register_detector("toy", lambda config, device: made.setdefault("det", ToyDetector(config, device)))
    register_backend("toy", lambda spec: made.setdefault("scorer", ToyScorer(spec)))


def test_toy_detector_and_backend_run_the_pipeline_from_config():
    made = {}
    _register(made)
    cfg = PipelineConfig(backend="toy", detector=DetectorConfig(kind="toy", every_n=1), device="cpu", cpu_threads=0)
    pipe = LivenessPipeline.from_config(cfg)
    det, sc = made["det"], made["scorer"]
    assert pipe.detector is det and pipe.scorer is sc
    assert isinstance(det, Detector)
    assert det.device == "cpu" and det.config.kind == "toy"
    assert sc.spec.device == "cpu" and sc.spec.weights is None and sc.spec.verify_checksum
    assert pipe.threshold == 0.6  # the toy backend's meta decides the threshold
    res = [pipe.step(np.full((100, 200, 3), 50, np.uint8)) for _ in range(6)]
    assert [len(r.faces) for r in res] == [1] * 6
    assert res[0].faces[0].box == FaceBox(50, 25, 100, 50, 0.97)  # the toy detector's box
    assert [r.faces[0].label for r in res] == ["pending"] * 4 + ["spoof"] * 2  # 0.8 >= 0.6
    assert res[-1].faces[0].p_spoof == pytest.approx(0.8)  # the toy backend's score
    # crops at the backend's input size; the 6th frame is the 5th again with its face decided:
    # its verdict is repeated, nothing detected or embedded (LivenessPipeline.step)
    assert len(det.calls) == 5 and sc.crops == [(24, 24, 3)] * 5 and not res[-1].detected
    assert res[-1].faces == res[-2].faces
    # the security level comes from the backend's meta too
    strict = LivenessPipeline.from_config(PipelineConfig(backend="toy", detector=DetectorConfig(kind="toy", every_n=1),
                                                         device="cpu", cpu_threads=0, security="strict"))
    assert strict.threshold == 0.9
    with pytest.raises(ConfigError, match="unknown security level 'lax'"):
        LivenessPipeline.from_config(PipelineConfig(backend="toy", detector=DetectorConfig(kind="toy"), device="cpu",
                                                    cpu_threads=0, security="lax"))
    pipe.close()
    assert det.closed and sc.closed


def test_close_releases_scorer_and_detector():
    made = {}
    _register(made)
    pipe = LivenessPipeline.from_config(PipelineConfig(backend="toy", detector=DetectorConfig(kind="toy"), device="cpu",
                                                       cpu_threads=0))
    pipe.step(np.zeros((50, 60, 3), np.uint8))
    pipe.close()
    assert pipe.scorer is None and pipe.detector is None
    assert made["det"].closed and made["scorer"].closed
    assert len(pipe.buffer) == 0 and pipe.open_tracks == 0
    with pytest.raises(RuntimeError, match="closed"):
        pipe.step(np.zeros((50, 60, 3), np.uint8))
    pipe.close()  # idempotent


def test_close_releases_the_real_model_and_mtcnn(tiny_weights, grace):
    pipe = LivenessPipeline.from_config(PipelineConfig(weights=tiny_weights, device="cpu", backend="torch"))
    sc, det = pipe.scorer, pipe.detector
    assert pipe.step(grace).faces
    pipe.close()
    assert pipe.scorer is None and pipe.detector is None
    assert sc.model is None and det._mtcnn is None  # the network objects are dropped, not only the pipeline's refs
    from rtliveness.errors import ClosedError

    for call in (lambda: sc.embed_array(np.zeros((1, 3, 8, 8), np.float32)), lambda: sc.head(np.zeros((1, 5, 512)))):
        with pytest.raises(ClosedError, match=r"^this scorer is closed \(close\(\) was called\); build a new one$"):
            call()


def test_protocol_detector_with_min_face_on_a_large_frame():
    made = {}
    _register(made)
    cfg = PipelineConfig(backend="toy", device="cpu", cpu_threads=0,
                         detector=DetectorConfig(kind="toy", min_face_size=80, max_side=960, every_n=1))
    pipe = LivenessPipeline.from_config(cfg)
    r = pipe.step(np.zeros((2160, 3840, 3), np.uint8))
    # detected on the 960-wide copy with the minimum face scaled to it (80 px * 960 / 3840 = 20 px) ...
    assert made["det"].calls == [((540, 960, 3), 20)]
    # ... and the box mapped back to the full frame
    assert r.faces[0].box.as_list() == [960, 540, 1920, 1080]
    r = pipe.step(np.zeros((400, 600, 3), np.uint8))  # small frames: detected as they are
    assert made["det"].calls[-1] == ((400, 600, 3), None)


def test_unknown_names_are_one_line_config_errors():
    with pytest.raises(ConfigError, match="invalid detector 'nope': use mtcnn"):
        build_detector(DetectorConfig(kind="nope"))
    with pytest.raises(ConfigError, match="unknown backend 'nope'"):
        LivenessPipeline.from_config(PipelineConfig(backend="nope", device="cpu", cpu_threads=0))
    with pytest.raises(ValueError):
        register_backend("auto", lambda spec: None)
    with pytest.raises(ValueError):
        register_detector("", lambda config, device: None)
    register_detector("toy", lambda config, device: ToyDetector(config, device))
    assert "toy" in detect.detector_names() and "toy" not in backends.backend_names()


def test_backend_auto_prefers_onnx_on_cpu_only_when_installed(monkeypatch):
    import importlib.util

    have_ort = importlib.util.find_spec("onnxruntime") is not None
    assert backends.choose_backend("auto", "cpu") == ("onnx" if have_ort else "torch")
    assert backends.choose_backend("auto", "cuda") == "torch"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert backends.choose_backend("auto", "cpu") == "torch"


def test_onnx_backend_receives_the_device_and_never_falls_back_to_the_cpu(tiny_weights, tmp_path, monkeypatch):
    ort = pytest.importorskip("onnxruntime")
    from rtliveness.model.onnx import providers_for_device

    assert providers_for_device("cpu") == ["CPUExecutionProvider"]
    assert providers_for_device("cuda:1") == [("CUDAExecutionProvider", {"device_id": 1})]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    monkeypatch.setenv("RTLIVENESS_CACHE", str(tmp_path))
    spec = backends.BackendSpec(weights=tiny_weights, device="cuda")  # as resolved on a CUDA machine
    with pytest.raises(ConfigError, match="CUDAExecutionProvider.*not available"):
        backends.build_scorer("onnx", spec)


def test_attack_classes_are_listed_once():
    from rtliveness.training.attacks import ATTACKS, BONA_FIDE, CLASSES, class_seed
    from rtliveness.training.data import CLASSES as DATA_CLASSES
    from rtliveness.training.synth import RENDERERS

    assert CLASSES == (BONA_FIDE, *ATTACKS) and DATA_CLASSES is CLASSES
    assert set(RENDERERS) == set(CLASSES)  # one renderer per class, nothing else
    # seeds depend on the class name, not on its position in CLASSES
    assert class_seed("printed") == class_seed("printed") and len({class_seed(c) for c in CLASSES}) == len(CLASSES)
    import zlib

    assert class_seed("replay") == zlib.crc32(b"replay")
