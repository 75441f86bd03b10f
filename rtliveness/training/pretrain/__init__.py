"""ImageNet initialisation for the product's resnet18 encoder, offline.

dlib's ImageNet ResNet-34 (``resnet34_1000_imagenet_classifier.dnn``, CC0; Debian ships it in
the ``dlib`` source package, see ``scripts/fetch_dlib_resnet34.sh``) is read with
:mod:`.dlib_format`, run in PyTorch by :mod:`.dlib_resnet`, and its 512-d pooled features are
distilled into a torchvision ``resnet18`` (``fc = Identity``) by :mod:`.distill`, whose state
dict loads straight into ``SpoofModel.encoder``.
"""

from __future__ import annotations

from .distill import DistillConfig, DistillResult, distill, distill_resnet18, make_student
from .dlib_format import DlibFormatError, DlibNet, DnnFile, read_dnn_file, write_dnn_file
from .dlib_resnet import (
    DLIB_IMAGENET_MEAN,
    DlibNetModule,
    DlibResNet,
    load_dlib_resnet34,
    preprocess,
    resnet34_imagenet_spec,
)

__all__ = [
    "DlibFormatError",
    "DlibNet",
    "DnnFile",
    "read_dnn_file",
    "write_dnn_file",
    "DLIB_IMAGENET_MEAN",
    "DlibNetModule",
    "DlibResNet",
    "load_dlib_resnet34",
    "preprocess",
    "resnet34_imagenet_spec",
    "DistillConfig",
    "DistillResult",
    "distill",
    "distill_resnet18",
    "make_student",
]
