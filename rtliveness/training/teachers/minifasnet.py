"""MiniFASNet teacher: Silent-Face-Anti-Spoofing's two 80x80 CNNs as soft-label source and peer.

The weights (``2.7_80x80_MiniFASNetV2.pth``, ``4_0_0_80x80_MiniFASNetV1SE.pth``) and their face
detector (``deploy.prototxt`` + ``Widerface-RetinaFace.caffemodel``, run by ``cv2.dnn``) are
never part of the project: :meth:`MiniFasTeacher.from_dir` loads them from a folder the user
names (``--teacher DIR``). The networks below are an independent implementation whose module
names follow the checkpoints' state-dict keys, so the weights load with ``strict=True``.

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
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from ...errors import FrameError, WeightsError

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
    "CROP_INTERPOLATION",
]

V2_FILE = "2.7_80x80_MiniFASNetV2.pth"
V1SE_FILE = "4_0_0_80x80_MiniFASNetV1SE.pth"
DETECTOR_PROTOTXT = "deploy.prototxt"
DETECTOR_CAFFEMODEL = "Widerface-RetinaFace.caffemodel"
V2_SCALE = 2.7
V1SE_SCALE = 4.0
INPUT_SIZE = 80
LIVE_CLASS = 1

#: Resampling of stored crops in :meth:`MiniFasTeacher.score_crop`: stored crops were already
#: area-averaged once, and bicubic brings their teacher scores closest to the full-frame ones.
CROP_INTERPOLATION = cv2.INTER_CUBIC

BoxXYWH = tuple[float, float, float, float]


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------

class _ConvBN(nn.Module):
    """Bias-free convolution, batch norm, and (optionally) a per-channel PReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0,
                 groups: int = 1, prelu: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, groups=groups, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(out_ch)
        self.has_prelu = prelu
        if prelu:
            self.prelu = nn.PReLU(out_ch)

    def fold_bn_(self) -> None:
        """Fold the (eval-mode) batch norm into the convolution, in place."""
        if isinstance(self.bn, nn.BatchNorm2d):
            self.conv = fuse_conv_bn_eval(self.conv, self.bn)
            self.bn = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return self.prelu(x) if self.has_prelu else x


class _SqueezeExcite(nn.Module):
    """Channel gate: global mean -> 1x1 conv + BN + ReLU -> 1x1 conv + BN + sigmoid -> scale."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = channels // reduction
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.bn1: nn.Module = nn.BatchNorm2d(hidden)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)
        self.bn2: nn.Module = nn.BatchNorm2d(channels)

    def fold_bn_(self) -> None:
        """Fold both (eval-mode) batch norms into their 1x1 convolutions, in place."""
        if isinstance(self.bn1, nn.BatchNorm2d):
            self.fc1 = fuse_conv_bn_eval(self.fc1, self.bn1)
            self.bn1 = nn.Identity()
        if isinstance(self.bn2, nn.BatchNorm2d):
            self.fc2 = fuse_conv_bn_eval(self.fc2, self.bn2)
            self.bn2 = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = x.mean(dim=(2, 3), keepdim=True)
        gate = torch.relu(self.bn1(self.fc1(gate)))
        gate = torch.sigmoid(self.bn2(self.fc2(gate)))
        return x * gate


class _Bottleneck(nn.Module):
    """1x1 expansion (PReLU) -> 3x3 depthwise (PReLU) -> 1x1 linear projection.

    Residual blocks (stride 1, same width) add their input back, after the optional
    squeeze-excitation gate on the projected features.
    """

    def __init__(self, in_ch: int, hidden: int, out_ch: int, stride: int, residual: bool,
                 se_reduction: int | None = None) -> None:
        super().__init__()
        if residual and (stride != 1 or in_ch != out_ch):
            raise ValueError("a residual bottleneck needs stride 1 and equal input/output widths")
        self.conv = _ConvBN(in_ch, hidden, 1)
        self.conv_dw = _ConvBN(hidden, hidden, 3, stride=stride, padding=1, groups=hidden)
        self.project = _ConvBN(hidden, out_ch, 1, prelu=False)
        self.residual = residual
        self.se_module = _SqueezeExcite(out_ch, se_reduction) if se_reduction else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.conv_dw(self.conv(x)))
        if self.se_module is not None:
            y = self.se_module(y)
        return x + y if self.residual else y


class _Stage(nn.Module):
    """Residual bottlenecks at constant width; with ``se`` the last one carries an SE gate."""

    def __init__(self, channels: int, hidden: Sequence[int], se: bool, se_reduction: int = 4) -> None:
        super().__init__()
        last = len(hidden) - 1
        self.model = nn.Sequential(*(
            _Bottleneck(channels, h, channels, stride=1, residual=True,
                        se_reduction=se_reduction if se and i == last else None)
            for i, h in enumerate(hidden)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MiniFASNet(nn.Module):
    """The MiniFASNet family: a pruned MobileFaceNet for 3-way anti-spoofing.

    Spatial path for an 80x80 input: stem conv (stride 2) 40 -> depthwise 3x3 -> bottleneck
    (stride 2) 20 -> stage -> bottleneck (stride 2) 10 -> stage -> bottleneck (stride 2) 5 -> stage
    -> 1x1 to 512 -> 5x5 depthwise "global" conv -> 512 -> linear 128 -> BN -> linear 3 logits.
    Widths are 32 -> 64 -> 128 -> 128; the three stages differ only in their expansion widths
    (``stage3``, ``stage4``, ``stage5``) and in whether their last block has an SE gate.
    Training-time dropout is left out: this implementation is for inference.
    """

    def __init__(self, stage3: Sequence[int], stage4: Sequence[int], stage5: Sequence[int],
                 squeeze_excite: bool, input_size: int = INPUT_SIZE, num_classes: int = 3,
                 embedding: int = 128) -> None:
        super().__init__()
        head_kernel = (input_size + 15) // 16
        self.input_size = input_size
        self.conv1 = _ConvBN(3, 32, 3, stride=2, padding=1)
        self.conv2_dw = _ConvBN(32, 32, 3, padding=1, groups=32)
        self.conv_23 = _Bottleneck(32, 103, 64, stride=2, residual=False)
        self.conv_3 = _Stage(64, stage3, squeeze_excite)
        self.conv_34 = _Bottleneck(64, 231, 128, stride=2, residual=False)
        self.conv_4 = _Stage(128, stage4, squeeze_excite)
        self.conv_45 = _Bottleneck(128, 308, 128, stride=2, residual=False)
        self.conv_5 = _Stage(128, stage5, squeeze_excite)
        self.conv_6_sep = _ConvBN(128, 512, 1)
        self.conv_6_dw = _ConvBN(512, 512, head_kernel, groups=512, prelu=False)
        self.linear = nn.Linear(512, embedding, bias=False)
        self.bn: nn.Module = nn.BatchNorm1d(embedding)
        self.prob = nn.Linear(embedding, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (N, 3, 80, 80) float BGR in 0..255 -> (N, 3) logits (class 1 = live)."""
        for stage in (self.conv1, self.conv2_dw, self.conv_23, self.conv_3, self.conv_34,
                      self.conv_4, self.conv_45, self.conv_5, self.conv_6_sep, self.conv_6_dw):
            x = stage(x)
        x = self.bn(self.linear(torch.flatten(x, 1)))
        return self.prob(x)

    def fused(self) -> "MiniFASNet":
        """An inference copy with every batch norm folded into the layer before it.

        Same outputs up to float rounding (~1e-6 on the logits), 1.3-2x faster on one CPU
        thread. The copy's state dict no longer has the checkpoint's layout: load first, fuse after.
        """
        net = copy.deepcopy(self).eval()
        for module in net.modules():
            if isinstance(module, (_ConvBN, _SqueezeExcite)):
                module.fold_bn_()
        if isinstance(net.bn, nn.BatchNorm1d):
            net.linear = fuse_linear_bn_eval(net.linear, net.bn)
            net.bn = nn.Identity()
        return net.requires_grad_(False)


class MiniFASNetV2(MiniFASNet):
    """MiniFASNetV2 (the 2.7x-crop model): no squeeze-excitation."""

    STAGE3 = (13, 13, 13, 13)
    STAGE4 = (231, 52, 26, 77, 26, 26)
    STAGE5 = (26, 26)

    def __init__(self, input_size: int = INPUT_SIZE) -> None:
        super().__init__(self.STAGE3, self.STAGE4, self.STAGE5, squeeze_excite=False, input_size=input_size)


class MiniFASNetV1SE(MiniFASNet):
    """MiniFASNetV1SE (the 4.0x-crop model): SE gate (reduction 4) on each stage's last block."""

    STAGE3 = (13, 26, 13, 52)
    STAGE4 = (154, 52, 26, 52, 26, 26)
    STAGE5 = (26, 26)

    def __init__(self, input_size: int = INPUT_SIZE) -> None:
        super().__init__(self.STAGE3, self.STAGE4, self.STAGE5, squeeze_excite=True, input_size=input_size)


def load_minifasnet(path: str | Path, arch: type[MiniFASNet]) -> MiniFASNet:
    """Build ``arch`` and load the Silent-Face state dict at ``path`` (strict) on the CPU.

    The file is read with ``weights_only=True``; a ``module.`` prefix (DataParallel) is stripped.
    Returns the network in eval mode with gradients off; raises :class:`WeightsError` when the
    file is missing, unreadable or does not fit ``arch``.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"MiniFASNet weights not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise WeightsError(f"cannot read MiniFASNet weights {path}: {str(exc).splitlines()[0][:200]}") from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} is not a MiniFASNet state dict (expected a mapping of tensors)")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    net = arch()
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path} does not fit {arch.__name__}: {str(exc).splitlines()[0][:200]}") from exc
    net.eval()
    net.requires_grad_(False)
    return net


# --------------------------------------------------------------------------------------------
# Detector and crop rule
# --------------------------------------------------------------------------------------------

class RetinaFaceCaffeDetector:
    """The teacher's face detector: Silent-Face's RetinaFace (MobileNet) Caffe model in ``cv2.dnn``.

    The frame is resized to about 192x192 pixels of area keeping its aspect ratio (frames
    already smaller are used as they are), mean (104, 117, 123) is subtracted, and the most
    confident detection is returned as integer (x, y, w, h) in frame pixels, the way the teacher
    was fed. Detections under ``min_confidence`` (the 0.6 of the source) count as no face.
    """

    def __init__(self, folder: str | Path, min_confidence: float = 0.6, area_side: int = 192) -> None:
        folder = Path(folder)
        missing = [n for n in (DETECTOR_PROTOTXT, DETECTOR_CAFFEMODEL) if not (folder / n).is_file()]
        if missing:
            raise WeightsError(f"teacher folder {folder} lacks the face detector file(s) {', '.join(missing)}")
        try:
            self._net = cv2.dnn.readNetFromCaffe(str(folder / DETECTOR_PROTOTXT), str(folder / DETECTOR_CAFFEMODEL))
        except cv2.error as exc:
            raise WeightsError(f"cannot load the RetinaFace detector from {folder}: {str(exc).strip().splitlines()[-1][:200]}") from exc
        self.min_confidence = min_confidence
        self.area_side = area_side

    def detect(self, image_bgr: np.ndarray) -> tuple[int, int, int, int] | None:
        """The most confident face as (x, y, w, h) pixels (may reach past the frame), or None."""
        h, w = image_bgr.shape[:2]
        small = image_bgr
        if w * h >= self.area_side * self.area_side:
            root = math.sqrt(w / h)
            small = cv2.resize(image_bgr, (int(self.area_side * root), int(self.area_side / root)),
                               interpolation=cv2.INTER_LINEAR)
        blob = cv2.dnn.blobFromImage(small, 1.0, mean=(104, 117, 123))
        self._net.setInput(blob, "data")
        rows = np.asarray(self._net.forward("detection_out")).reshape(-1, 7)
        if len(rows) == 0:
            return None
        best = rows[int(np.argmax(rows[:, 2]))]
        if not np.isfinite(best).all() or best[2] < self.min_confidence:
            return None
        left, top, right, bottom = best[3] * w, best[4] * h, best[5] * w, best[6] * h
        bw, bh = int(right - left + 1), int(bottom - top + 1)
        if bw < 2 or bh < 2:
            return None
        return int(left), int(top), bw, bh


def teacher_region(frame_w: int, frame_h: int, box_xywh: Sequence[float], scale: float) -> tuple[int, int, int, int]:
    """Inclusive pixel bounds (x1, y1, x2, y2) of the teacher's crop of ``box_xywh`` at ``scale``.

    The box is scaled about its centre; the scale is first lowered to at most
    ``(frame_w - 1) / w`` and ``(frame_h - 1) / h`` so the region fits the frame, then the region is
    shifted back inside ``[0, frame_w - 1] x [0, frame_h - 1]`` and its corners truncated to integers.
    """
    x, y, bw, bh = (float(v) for v in box_xywh)
    if bw <= 0 or bh <= 0:
        raise ValueError(f"box width and height must be positive, got {tuple(box_xywh)}")
    scale = min(scale, (frame_h - 1) / bh, (frame_w - 1) / bw)
    cx, cy = x + bw / 2.0, y + bh / 2.0
    half_w, half_h = bw * scale / 2.0, bh * scale / 2.0
    x1, y1, x2, y2 = cx - half_w, cy - half_h, cx + half_w, cy + half_h
    if x1 < 0:
        x1, x2 = 0.0, x2 - x1
    if y1 < 0:
        y1, y2 = 0.0, y2 - y1
    if x2 > frame_w - 1:
        x1, x2 = x1 - (x2 - (frame_w - 1)), float(frame_w - 1)
    if y2 > frame_h - 1:
        y1, y2 = y1 - (y2 - (frame_h - 1)), float(frame_h - 1)
    return int(x1), int(y1), int(x2), int(y2)


def teacher_crop(image_bgr: np.ndarray, box_xywh: Sequence[float], scale: float, out_size: int = INPUT_SIZE,
                 interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """The teacher's input crop: :func:`teacher_region` cut out (bounds inclusive) and resized to
    ``out_size`` x ``out_size`` (bilinear by default, as the teacher was fed; a box that is not
    square is squeezed to the square input)."""
    h, w = image_bgr.shape[:2]
    x1, y1, x2, y2 = teacher_region(w, h, box_xywh, scale)
    patch = image_bgr[y1:y2 + 1, x1:x2 + 1]
    return cv2.resize(patch, (out_size, out_size), interpolation=interpolation)


@dataclass(frozen=True)
class BoxMapping:
    """The teacher's (RetinaFace) box predicted from an MTCNN box, in units of M, the longer side
    of the MTCNN box: its width and height, and the offset of its centre from the MTCNN centre."""

    width: float
    height: float
    dx: float
    dy: float


#: Median mapping measured on 871 real faces (see the module docstring).
MTCNN_TO_RETINAFACE = BoxMapping(width=0.890, height=0.899, dx=0.001, dy=0.056)


def teacher_box_from_mtcnn(box_x1y1x2y2: Sequence[float], mapping: BoxMapping = MTCNN_TO_RETINAFACE) -> BoxXYWH:
    """The RetinaFace-style (x, y, w, h) box the teacher would see for an MTCNN box (x1, y1, x2, y2).

    Use it with :meth:`MiniFasTeacher.score_frame` to score a face the project's detector found
    without running the teacher's detector.
    """
    x1, y1, x2, y2 = (float(v) for v in box_x1y1x2y2)
    side = max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2.0 + mapping.dx * side, (y1 + y2) / 2.0 + mapping.dy * side
    w, h = mapping.width * side, mapping.height * side
    return cx - w / 2.0, cy - h / 2.0, w, h


# --------------------------------------------------------------------------------------------
# Teacher
# --------------------------------------------------------------------------------------------

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

    def score_crops_batch(self, crops_bgr: Sequence[np.ndarray], crop_scale: float) -> np.ndarray:
        """:meth:`score_crop` for crops of one ``crop_scale``, batched: (N,) float64 ``p_spoof``."""
        with_v1se = self.uses_v1se(crop_scale)
        pairs = [self._crop_inputs(c, crop_scale, with_v1se) for c in crops_bgr]
        v2 = [p[0] for p in pairs]
        v1se = [p[1] for p in pairs if p[1] is not None] if with_v1se else None
        return self._ensemble(v2, v1se)
