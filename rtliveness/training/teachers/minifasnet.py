"""MiniFASNet teacher: Silent-Face-Anti-Spoofing's two 80x80 CNNs as soft-label source and peer.

The weights (``2.7_80x80_MiniFASNetV2.pth``, ``4_0_0_80x80_MiniFASNetV1SE.pth``) and their face
detector (``deploy.prototxt`` + ``Widerface-RetinaFace.caffemodel``, run by ``cv2.dnn``) are
never part of the project: :meth:`MiniFasTeacher.from_dir` loads them from a folder the user
names (``--teacher DIR``). The networks (:mod:`.minifasnet_net`) are an independent implementation
whose module names follow the checkpoints' state-dict keys, so the weights load with ``strict=True``.

Teacher input: one 80x80 **BGR** crop as float32 CHW with raw 0-255 values (no normalisation).
The crop is the detector box scaled by 2.7 (V2) or 4.0 (V1SE) about its centre, the scale shrunk
to fit the frame and the region shifted inside it (:func:`teacher_crop`). Output: three logits;
class 1 is live, 0 and 2 are attack types. The teacher's score is
``p_spoof = 1 - (softmax_v2[1] + softmax_v1se[1]) / 2``.

Scoring the project's stored crops (:meth:`MiniFasTeacher.score_crop`): those are squares of
``crop_scale * M`` (M = the longer side of the MTCNN box) centred on the MTCNN box. MTCNN and
the teacher's RetinaFace detector box the same face differently, so the RetinaFace box is
predicted from the MTCNN box with :data:`MTCNN_TO_RETINAFACE` and the teacher's crop rule is
applied with the stored crop as the frame.

Measured mapping (871 real faces: 347 NUAA live and 513 NUAA printed-photo frames, every 5th
picture of every session, plus 11 photos of ``/work/shared/data/faces``; MTCNN as in the project,
``facenet_pytorch.MTCNN(keep_all=True, device="cpu")`` with factor 0.6, thresholds 0.6/0.7/0.7,
confidence >= 0.9; each RetinaFace box paired with the MTCNN box of highest IoU, all > 0.3),
in units of M:

=========================  ======  ===============
quantity                   median  inter-quartile
=========================  ======  ===============
RetinaFace width / M       0.890   0.864 .. 0.919
RetinaFace height / M      0.899   0.875 .. 0.929
centre offset x / M        +0.001  -0.011 .. 0.014
centre offset y / M        +0.056  0.042 .. 0.070
MTCNN width / height       0.784   0.765 .. 0.806
RetinaFace width / height  0.991   0.981 .. 1.000
=========================  ======  ===============

So the RetinaFace box is square, 10 % smaller than M and 5.6 % of M lower than the MTCNN
centre (live and printed faces agree within 0.02). The V2 region is therefore 2.43 M, not 2.7 M,
and sits lower: inside a 224 px crop at 2.7x it is pixels (12, 15)-(211, 217). Scoring 860 NUAA
frames from 224 px 2.7x crops (the project's ``crop_face``) against the full-frame teacher
ensemble: resizing the whole crop gives mean |dp_spoof| 0.036 and 98.5 % equal decisions; the
mapped region 0.028 / 99.1 % (bilinear) and 0.024 / 99.3 % (bicubic, :data:`CROP_INTERPOLATION`).
The full-frame V2 alone differs from the ensemble by 0.010 on the same frames. V1SE's 4.0x
region (3.6 M) fits only crops of ``crop_scale >= 3.58``; narrower crops are scored by V2 alone.

Everything runs on the CPU, in eval mode, with gradients off. Use one torch thread
(``from_dir(..., num_threads=1)``, the default): on a busy two-core machine two threads made the
networks about 100x slower. Measured on a shared 2-core machine (load average ~3): one network
7 ms for a single crop, 2.6 ms per crop in batches of 32 (:meth:`MiniFasTeacher.score_crops_batch`);
the detector 5.5 ms per 640x480 frame; :meth:`MiniFasTeacher.score_frame` 20 ms per frame in all.

The parts live in their own modules and are re-exported here: the constants in
:mod:`.minifasnet_constants`, the networks and their loader in :mod:`.minifasnet_net`, the
detector in :mod:`.minifasnet_detector`, the crop rule and box mapping in :mod:`.minifasnet_crop`.
This module holds the scoring teacher, :class:`MiniFasTeacher`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import torch

from ...errors import FrameError, WeightsError
from .minifasnet_constants import (
    DETECTOR_CAFFEMODEL,
    DETECTOR_PROTOTXT,
    INPUT_SIZE,
    LIVE_CLASS,
    SPOOF_THRESHOLD,
    V1SE_FILE,
    V1SE_SCALE,
    V2_FILE,
    V2_SCALE,
)
from .minifasnet_crop import (
    MTCNN_TO_RETINAFACE,
    BoxMapping,
    BoxXYWH,
    teacher_box_from_mtcnn,
    teacher_crop,
    teacher_region,
)
from .minifasnet_detector import RetinaFaceCaffeDetector
from .minifasnet_net import MiniFASNet, MiniFASNetV1SE, MiniFASNetV2, load_minifasnet

__all__ = [
    "MiniFASNet",
    "MiniFASNetV2",
    "MiniFASNetV1SE",
    "load_minifasnet",
    "RetinaFaceCaffeDetector",
    "BoxMapping",
    "MTCNN_TO_RETINAFACE",
    "teacher_box_from_mtcnn",
    "teacher_region",
    "teacher_crop",
    "MiniFasTeacher",
    "V2_FILE",
    "V1SE_FILE",
    "DETECTOR_PROTOTXT",
    "DETECTOR_CAFFEMODEL",
    "V2_SCALE",
    "V1SE_SCALE",
    "INPUT_SIZE",
    "LIVE_CLASS",
    "SPOOF_THRESHOLD",
    "CROP_INTERPOLATION",
]

#: Resampling of stored crops in :meth:`MiniFasTeacher.score_crop`: stored crops were already
#: area-averaged once, and bicubic brings their teacher scores closest to the full-frame ones.
CROP_INTERPOLATION = cv2.INTER_CUBIC


def _as_crop(image: np.ndarray, what: str) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape, dtype = getattr(image, "shape", None), getattr(image, "dtype", None)
        raise FrameError(f"{what} must be an HxWx3 uint8 BGR array, got shape {shape} dtype {dtype}")
    return image


@contextmanager
def _thread_limit(num_threads: int | None) -> Iterator[None]:
    """Run the block with ``num_threads`` torch and OpenCV threads, then restore the caller's."""
    if num_threads is None:
        yield
        return
    torch_before, cv_before = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(num_threads)
    cv2.setNumThreads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(torch_before)
        cv2.setNumThreads(cv_before)


def _to_batch(crops: Sequence[np.ndarray]) -> torch.Tensor:
    """(N, 80, 80, 3) uint8 BGR crops -> (N, 3, 80, 80) float32 with raw 0..255 values."""
    stacked = np.stack(crops).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(stacked, dtype=np.float32))


class MiniFasTeacher:
    """The two-model MiniFASNet ensemble with its own detector; gives ``p_spoof`` in [0, 1].

    * :meth:`score_frame` / :meth:`score_frames_batch`: exactly the teacher's pipeline on full
      frames (its detector, or a given RetinaFace-style box, both crops, both models).
    * :meth:`score_crop` / :meth:`score_crops_batch`: the best approximation from the project's
      stored square crops (MTCNN-centred, ``crop_scale`` x the box's longer side).

    The networks are kept as batch-norm-folded inference copies (:meth:`MiniFASNet.fused`).
    Every scoring call runs with ``num_threads`` torch/OpenCV threads (default 1) and restores
    the caller's thread settings afterwards; None leaves them alone.
    """

    def __init__(self, v2: MiniFASNet, v1se: MiniFASNet, detector: RetinaFaceCaffeDetector | None = None,
                 mapping: BoxMapping = MTCNN_TO_RETINAFACE, num_threads: int | None = 1) -> None:
        self.v2 = v2.fused()
        self.v1se = v1se.fused()
        self.detector = detector
        self.mapping = mapping
        self.num_threads = num_threads

    @classmethod
    def from_dir(cls, path: str | Path, num_threads: int | None = 1, detector: bool = True) -> "MiniFasTeacher":
        """Load the teacher from the folder holding the two ``.pth`` files and the detector files.

        ``num_threads``: torch/OpenCV threads while scoring (default 1; None: leave as is).
        ``detector=False`` skips the RetinaFace model (then :meth:`score_frame` needs a box).
        Raises :class:`WeightsError` naming the folder and the missing files.
        """
        folder = Path(path)
        if not folder.is_dir():
            raise WeightsError(f"teacher folder {folder} does not exist (expected {V2_FILE}, {V1SE_FILE}, "
                               f"{DETECTOR_PROTOTXT} and {DETECTOR_CAFFEMODEL} in it)")
        needed = [V2_FILE, V1SE_FILE] + ([DETECTOR_PROTOTXT, DETECTOR_CAFFEMODEL] if detector else [])
        missing = [n for n in needed if not (folder / n).is_file()]
        if missing:
            raise WeightsError(f"teacher folder {folder} lacks {', '.join(missing)}")
        v2 = load_minifasnet(folder / V2_FILE, MiniFASNetV2)
        v1se = load_minifasnet(folder / V1SE_FILE, MiniFASNetV1SE)
        return cls(v2, v1se, RetinaFaceCaffeDetector(folder) if detector else None, num_threads=num_threads)

    # -- networks -----------------------------------------------------------------------------

    def live_probs(self, net: MiniFASNet, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Softmax probability of the live class for each 80x80 BGR teacher crop under ``net``."""
        if len(crops) == 0:
            return np.zeros(0, np.float64)
        with _thread_limit(self.num_threads), torch.inference_mode():
            logits = net(_to_batch(crops))
        return torch.softmax(logits.double(), dim=1)[:, LIVE_CLASS].numpy()

    def _ensemble(self, v2_crops: Sequence[np.ndarray], v1se_crops: Sequence[np.ndarray] | None) -> np.ndarray:
        live = self.live_probs(self.v2, v2_crops)
        if v1se_crops is not None:
            live = (live + self.live_probs(self.v1se, v1se_crops)) / 2.0
        return np.clip(1.0 - live, 0.0, 1.0)

    # -- full frames --------------------------------------------------------------------------

    def detect(self, image_bgr: np.ndarray) -> tuple[int, int, int, int] | None:
        """The teacher detector's face box (x, y, w, h), or None."""
        if self.detector is None:
            raise WeightsError("this MiniFasTeacher was loaded without its detector; pass a box")
        with _thread_limit(self.num_threads):
            return self.detector.detect(_as_crop(image_bgr, "image_bgr"))

    def score_frame(self, image_bgr: np.ndarray, box_xywh: Sequence[float] | None = None) -> float | None:
        """Teacher ``p_spoof`` of the face in a full frame; None when no face is found.

        ``box_xywh`` is a RetinaFace-style box (x, y, w, h) in pixels (for an MTCNN box use
        :func:`teacher_box_from_mtcnn`); without it the teacher's own detector picks the face.
        """
        return self.score_frames_batch([image_bgr], None if box_xywh is None else [box_xywh])[0]

    def score_frames_batch(self, images_bgr: Sequence[np.ndarray],
                           boxes_xywh: Sequence[Sequence[float] | None] | None = None) -> list[float | None]:
        """:meth:`score_frame` for many frames, with one network pass per model for all faces.

        ``boxes_xywh`` (optional) gives one box or None per frame; None means "detect".
        """
        if boxes_xywh is not None and len(boxes_xywh) != len(images_bgr):
            raise ValueError(f"got {len(boxes_xywh)} boxes for {len(images_bgr)} frames")
        v2_crops: list[np.ndarray] = []
        v1se_crops: list[np.ndarray] = []
        found: list[int] = []
        for i, image in enumerate(images_bgr):
            image = _as_crop(image, "image_bgr")
            box = boxes_xywh[i] if boxes_xywh is not None else None
            if box is None:
                box = self.detect(image)
                if box is None:
                    continue
            v2_crops.append(teacher_crop(image, box, V2_SCALE))
            v1se_crops.append(teacher_crop(image, box, V1SE_SCALE))
            found.append(i)
        out: list[float | None] = [None] * len(images_bgr)
        for i, p in zip(found, self._ensemble(v2_crops, v1se_crops)):
            out[i] = float(p)
        return out

    # -- stored square crops ------------------------------------------------------------------

    def crop_box(self, side: int, crop_scale: float) -> BoxXYWH:
        """The predicted RetinaFace box (x, y, w, h) inside a square crop of ``side`` pixels cut at
        ``crop_scale`` x the MTCNN box's longer side, centred on the MTCNN box."""
        if crop_scale <= 0:
            raise ValueError(f"crop_scale must be positive, got {crop_scale!r}")
        m = side / crop_scale
        c = side / 2.0
        return teacher_box_from_mtcnn((c - m / 2.0, c - m / 2.0, c + m / 2.0, c + m / 2.0), self.mapping)

    def uses_v1se(self, crop_scale: float, tolerance: float = 0.02) -> bool:
        """Whether a ``crop_scale`` crop holds V1SE's 4.0x region (up to ``tolerance`` of the side)."""
        side = 1000.0
        x, y, w, h = self.crop_box(int(side), crop_scale)
        cx, cy = x + w / 2.0, y + h / 2.0
        half_w, half_h = w * V1SE_SCALE / 2.0, h * V1SE_SCALE / 2.0
        slack = tolerance * side
        return (cx - half_w >= -slack and cy - half_h >= -slack
                and cx + half_w <= side + slack and cy + half_h <= side + slack)

    def _crop_inputs(self, crop_bgr: np.ndarray, crop_scale: float, with_v1se: bool) -> tuple[np.ndarray, np.ndarray | None]:
        crop_bgr = _as_crop(crop_bgr, "crop_bgr")
        h, w = crop_bgr.shape[:2]
        if abs(h - w) > 1:
            raise FrameError(f"crop_bgr must be square (a stored face crop), got {w}x{h}")
        box = self.crop_box(w, crop_scale)
        v2 = teacher_crop(crop_bgr, box, V2_SCALE, interpolation=CROP_INTERPOLATION)
        v1se = teacher_crop(crop_bgr, box, V1SE_SCALE, interpolation=CROP_INTERPOLATION) if with_v1se else None
        return v2, v1se

    def score_crop(self, crop_bgr: np.ndarray, crop_scale: float) -> float:
        """Teacher ``p_spoof`` from a stored square face crop (``crop_scale`` x the MTCNN box's
        longer side, centred on it, any pixel size).

        The teacher's box is predicted inside the crop with the measured MTCNN -> RetinaFace
        mapping and the teacher's crop rule is applied with the crop as the frame. V1SE joins
        only when the crop holds its 4.0x region (:meth:`uses_v1se`); otherwise V2 alone decides:
        ``p_spoof = 1 - softmax_v2[1]``.
        """
        return float(self.score_crops_batch([crop_bgr], crop_scale)[0])

    def embed_crops_batch(self, crops_bgr: Sequence[np.ndarray], crop_scale: float) -> np.ndarray:
        """The V2 network's 128-d embeddings (the input of its classifier) of stored square
        crops, through the same crop rule as :meth:`score_crops_batch`: (N, 128) float32. V2 is
        the network every stored crop reaches (V1SE needs ``crop_scale >= 3.58``)."""
        if len(crops_bgr) == 0:
            return np.zeros((0, self.v2.linear.out_features), np.float32)
        v2 = [self._crop_inputs(c, crop_scale, False)[0] for c in crops_bgr]
        with _thread_limit(self.num_threads), torch.inference_mode():
            return self.v2.embed(_to_batch(v2)).float().numpy()

    def score_crops_batch(self, crops_bgr: Sequence[np.ndarray], crop_scale: float) -> np.ndarray:
        """:meth:`score_crop` for crops of one ``crop_scale``, batched: (N,) float64 ``p_spoof``."""
        with_v1se = self.uses_v1se(crop_scale)
        pairs = [self._crop_inputs(c, crop_scale, with_v1se) for c in crops_bgr]
        v2 = [p[0] for p in pairs]
        v1se = [p[1] for p in pairs if p[1] is not None] if with_v1se else None
        return self._ensemble(v2, v1se)
