"""Face detectors behind one protocol, and the one registry of detectors. BGR→RGB conversion
happens here, once.

* :class:`MtcnnDetector` — MTCNN from ``facenet-pytorch``; its weights ship inside the wheel.
* :class:`HaarDetector` — OpenCV's frontal-face Haar cascade, for weak machines.

A new detector is one class with ``detect(image_bgr, region=None, min_face=None)`` plus one
:func:`register_detector` call; ``DetectorConfig(kind=name)`` then selects it everywhere. A
detector may also offer ``detect_images(images_bgr, min_face)`` (several images through the
networks at once, :class:`MtcnnDetector` does); the pipeline then scans the regions around many
tracked faces in one call.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence, runtime_checkable

import cv2
import numpy as np

from ..config import DetectorConfig
from ..errors import ConfigError
from ..types import FaceBox

__all__ = ["Detector", "MtcnnDetector", "HaarDetector", "build_detector", "tracking_detector", "new_face_min", "boxes_from_array", "register_detector",
           "detector_names", "SharedDetector", "padded_batch"]

#: images are batched only when padding them to a common size at most doubles the pixels scanned
MAX_PAD_RATIO = 2.0


@runtime_checkable
class Detector(Protocol):
    def detect(self, image_bgr: np.ndarray, region: tuple[int, int, int, int] | None = None,
               min_face: int | None = None) -> tuple[FaceBox, ...]:
        """Faces in ``image_bgr`` (or only inside ``region`` = x1, y1, x2, y2), largest first.

        ``min_face=PX`` overrides the configured minimum face side (the pipeline passes it when
        it detects on a downscaled copy of a large frame). A detector may also have a
        ``new_face_confidence`` attribute: it then reports boxes below that confidence too, and
        the pipeline lets those only keep a face it tracks, never start one
        (:meth:`MtcnnDetector.tracking`); without it every box reported may start a face."""
        ...


def boxes_from_array(boxes, scores, width: int, height: int, min_confidence: float,
                     max_faces: int, offset: tuple[int, int] = (0, 0)) -> tuple[FaceBox, ...]:
    """Clean a detector's raw output into FaceBoxes: cast (numpy 2 may give object arrays),
    drop non-finite and low-confidence rows, clip to the frame, sort by area, cap the count."""
    if boxes is None or len(boxes) == 0:
        return ()
    arr = np.asarray(np.asarray(boxes, dtype=object).tolist(), dtype=np.float64).reshape(-1, 4)
    sc = np.ones(len(arr)) if scores is None else np.asarray(
        [np.nan if s is None else s for s in np.asarray(scores, dtype=object).reshape(-1)], dtype=np.float64)
    out: list[FaceBox] = []
    ox, oy = offset
    for (x1, y1, x2, y2), s in zip(arr, sc):
        if not (np.isfinite([x1, y1, x2, y2, s]).all()) or s < min_confidence:
            continue
        x1, x2 = max(0.0, x1 + ox), min(float(width), x2 + ox)
        y1, y2 = max(0.0, y1 + oy), min(float(height), y2 + oy)
        if x2 - x1 < 4 or y2 - y1 < 4:
            continue
        out.append(FaceBox(float(x1), float(y1), float(x2), float(y2), float(min(1.0, s))))
    out.sort(key=lambda b: b.width * b.height, reverse=True)
    return tuple(out[:max_faces])


def _region_slice(image: np.ndarray, region):
    h, w = image.shape[:2]
    if region is None:
        return image, (0, 0)
    x1, y1, x2, y2 = (int(v) for v in region)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 - x1 < 12 or y2 - y1 < 12:
        return None, (0, 0)
    return image[y1:y2, x1:x2], (x1, y1)


def padded_batch(images: Sequence[np.ndarray]) -> np.ndarray | None:
    """The images (H_i, W_i, 3) as one (N, H, W, 3) array, each in the top-left corner of a black
    canvas of the largest height and width; None when that would scan more than
    :data:`MAX_PAD_RATIO` times their own pixels (very different sizes: scan them apart)."""
    hh = max(im.shape[0] for im in images)
    ww = max(im.shape[1] for im in images)
    own = sum(im.shape[0] * im.shape[1] for im in images)
    if len(images) * hh * ww > MAX_PAD_RATIO * own:
        return None
    out = np.zeros((len(images), hh, ww, 3), np.uint8)
    for i, im in enumerate(images):
        out[i, :im.shape[0], :im.shape[1]] = im
    return out


class MtcnnDetector:
    """MTCNN (facenet-pytorch) on CPU or CUDA with video-friendly defaults."""

    def __init__(self, config: DetectorConfig | None = None, device: str = "cpu") -> None:
        from facenet_pytorch import MTCNN  # heavy import kept local

        self.config = config or DetectorConfig()
        self.device = device
        self._floor = self.config.min_confidence  # the lowest confidence reported (tracking(): lower)
        self._cap = self.config.max_faces  # boxes reported, largest first (tracking(): all, capped by the loop)
        #: the confidence a face needs to be started by a tracking loop, where this detector also
        #: reports less sure boxes (:meth:`tracking`); None: every reported box may start one
        self.new_face_confidence: float | None = None
        self._base: MtcnnDetector | None = None  # the detector a tracking view was made of
        self._mtcnn = MTCNN(
            keep_all=True,
            device=device,
            min_face_size=self.config.min_face_size or 20,
            factor=self.config.factor,
            thresholds=list(self.config.thresholds),
            post_process=False,
            select_largest=True,
        )
        if device == "cpu" and self.config.channels_last:  # the same boxes in less time (see fastpool)
            from .fastpool import channels_last_mtcnn

            channels_last_mtcnn(self._mtcnn)

    def detect(self, image_bgr: np.ndarray, region=None, min_face: int | None = None) -> tuple[FaceBox, ...]:
        h, w = image_bgr.shape[:2]
        sub, offset = _region_slice(image_bgr, region)
        if sub is None:
            return ()
        min_face = min_face or self.config.min_face_for(h, w)
        if min(sub.shape[:2]) < min_face:
            return ()
        image_rgb = cv2.cvtColor(sub, cv2.COLOR_BGR2RGB)
        boxes, probs = self._at(min_face).detect(image_rgb)  # per image: relative sizes follow the frame
        return boxes_from_array(boxes, probs, w, h, self._floor, self._cap, offset)

    def detect_images(self, images_bgr: Sequence[np.ndarray], min_face: int) -> tuple[tuple[FaceBox, ...], ...]:
        """Faces in each image (its own pixels, clipped to it, largest first), searched with the
        same minimum face side ``min_face``. The images go through P-, R- and O-Net as one batch,
        padded to a common size with black (no face is found in black), so N region scans cost
        one network call per pyramid level instead of N; images of very different sizes (see
        :func:`padded_batch`) are scanned one by one."""
        usable = [i for i, im in enumerate(images_bgr) if min(im.shape[:2]) >= max(12, min_face)]
        out: list[tuple[FaceBox, ...]] = [() for _ in images_bgr]
        batch = padded_batch([images_bgr[i] for i in usable]) if len(usable) > 1 else None
        if batch is None:
            for i in usable:
                out[i] = self.detect(images_bgr[i], min_face=min_face)
            return tuple(out)
        rgb = batch[..., ::-1].copy()  # BGR → RGB for the whole batch at once
        boxes, probs = self._at(min_face).detect(rgb)
        for k, i in enumerate(usable):
            h, w = images_bgr[i].shape[:2]
            out[i] = boxes_from_array(boxes[k], probs[k], w, h, self._floor, self._cap)
        return tuple(out)

    def tracking(self, keep_confidence: float | None) -> "MtcnnDetector":
        """This detector as a tracking loop uses it (sharing the networks): it also reports boxes
        down to ``keep_confidence`` — a face it found at ``min_confidence`` may be kept by them,
        :attr:`new_face_confidence` tells the loop which boxes may start a face — and reports
        them all (the loop caps the count after sorting out the boxes it cannot use). None, or a
        value not below ``min_confidence``: this detector as it is."""
        import copy

        base = self._base or self  # a view of a view is a view of the detector itself
        if keep_confidence is None or keep_confidence >= base.config.min_confidence:
            return base
        view = copy.copy(base)
        view._floor, view._cap = float(keep_confidence), 1 << 30
        view.new_face_confidence = base.config.min_confidence
        view._base = base
        return view

    def _at(self, min_face: int):
        """The MTCNN searching down to ``min_face``: a shallow copy sharing the three networks
        (about 4 µs), so that streams sharing this detector from several threads (``serve``, the
        fleet's workers) never run with one another's minimum face, as a shared setting did."""
        import copy

        mtcnn = copy.copy(self._mtcnn)
        mtcnn.min_face_size = min_face
        return mtcnn

    def close(self) -> None:
        """Release the three networks."""
        self._mtcnn = None


class HaarDetector:
    """OpenCV's Haar cascade (frontal faces); fast on weak machines, less accurate than MTCNN."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig(kind="haar")
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml" if hasattr(cv2, "data") else ""
        if not hasattr(cv2, "CascadeClassifier"):
            raise ConfigError("the haar detector needs opencv-python 4.x (this OpenCV has no CascadeClassifier); use --detector mtcnn")
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise ConfigError(f"Haar cascade file not found at {path!r}; install opencv-python 4.x or use --detector mtcnn")

    def detect(self, image_bgr: np.ndarray, region=None, min_face: int | None = None) -> tuple[FaceBox, ...]:
        h, w = image_bgr.shape[:2]
        sub, offset = _region_slice(image_bgr, region)
        if sub is None:
            return ()
        min_face = min_face or self.config.min_face_for(h, w)
        gray = cv2.cvtColor(sub, cv2.COLOR_BGR2GRAY)
        gray = cv2.equalizeHist(gray)
        found = self._cascade.detectMultiScale(
            gray, scaleFactor=1.0 + max(0.05, (1.0 - self.config.factor) / 2.0),
            minNeighbors=5, minSize=(min_face, min_face))
        if len(found) == 0:
            return ()
        boxes = [[x, y, x + bw, y + bh] for (x, y, bw, bh) in np.asarray(found).reshape(-1, 4)]
        return boxes_from_array(boxes, None, w, h, 0.0, self.config.max_faces, offset)


DetectorFactory = Callable[[DetectorConfig, str], Detector]
_DETECTORS: dict[str, DetectorFactory] = {
    "mtcnn": lambda config, device: MtcnnDetector(config, device=device),
    "haar": lambda config, device: HaarDetector(config),  # always on the CPU
}


def register_detector(name: str, factory: DetectorFactory) -> None:
    """Add a detector: ``factory(config, device)`` returns an object with the :class:`Detector` method."""
    if not name:
        raise ValueError("a detector needs a name")
    _DETECTORS[name] = factory


def detector_names() -> tuple[str, ...]:
    return tuple(_DETECTORS)


def build_detector(config: DetectorConfig, device: str = "cpu") -> Detector:
    """The detector registered as ``config.kind``, on ``device``."""
    factory = _DETECTORS.get(config.kind)
    if factory is None:
        raise ConfigError(f"invalid detector {config.kind!r}: use {' or '.join(_DETECTORS)}")
    return factory(config, device)


def new_face_min(detector: Detector) -> float | None:
    """The confidence a box of ``detector`` needs to start a face (boxes below it may only keep a
    tracked face going: :meth:`MtcnnDetector.tracking`); None: every box it reports may start one."""
    return getattr(detector, "new_face_confidence", None)


def tracking_detector(detector: Detector, keep_confidence: float | None) -> Detector:
    """``detector`` as a tracking loop uses it (:class:`~rtliveness.runtime.pipeline.LivenessPipeline`
    applies it to the detector it is given): MTCNN, lent or not, also reports the less sure boxes
    that may keep a tracked face, down to ``keep_confidence`` (:meth:`MtcnnDetector.tracking`);
    any other detector as it is."""
    if isinstance(detector, MtcnnDetector):
        return detector.tracking(keep_confidence)
    if isinstance(detector, SharedDetector) and isinstance(detector.detector, MtcnnDetector):
        view = detector.detector.tracking(keep_confidence)
        return detector if view is detector.detector else SharedDetector(view)
    return detector


class SharedDetector:
    """One detector lent to many pipelines (the service's connections, a fleet worker's
    streams): detection passes through; a pipeline's ``close`` leaves the detector open."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    @property
    def new_face_confidence(self) -> float | None:
        """The lent detector's (:attr:`MtcnnDetector.new_face_confidence`)."""
        return new_face_min(self.detector)

    def detect(self, image_bgr: np.ndarray, region: tuple[int, int, int, int] | None = None,
               min_face: int | None = None) -> tuple[FaceBox, ...]:
        return self.detector.detect(image_bgr, region=region, min_face=min_face)

    def detect_images(self, images_bgr: Sequence[np.ndarray], min_face: int) -> tuple[tuple[FaceBox, ...], ...]:
        """The lent detector's batched scan, or one scan per image when it has none."""
        batched = getattr(self.detector, "detect_images", None)
        if batched is not None:
            return batched(images_bgr, min_face)
        return tuple(self.detector.detect(im, min_face=min_face) for im in images_bgr)

    def close(self) -> None:
        """Nothing: the owner closes the detector itself."""
