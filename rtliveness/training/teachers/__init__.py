"""Teacher models for knowledge distillation (loaded from a user-given folder, never shipped).

* :mod:`.minifasnet` — Silent-Face-Anti-Spoofing's MiniFASNetV2 + MiniFASNetV1SE ensemble with
  its RetinaFace detector: ``MiniFasTeacher.from_dir(DIR).score_crop(crop, crop_scale)``.
"""

from .minifasnet import (
    MTCNN_TO_RETINAFACE,
    BoxMapping,
    MiniFASNet,
    MiniFASNetV1SE,
    MiniFASNetV2,
    MiniFasTeacher,
    RetinaFaceCaffeDetector,
    load_minifasnet,
    teacher_box_from_mtcnn,
    teacher_crop,
    teacher_region,
)

__all__ = [
    "MiniFasTeacher",
    "MiniFASNet",
    "MiniFASNetV2",
    "MiniFASNetV1SE",
    "load_minifasnet",
    "RetinaFaceCaffeDetector",
    "BoxMapping",
    "MTCNN_TO_RETINAFACE",
    "teacher_box_from_mtcnn",
    "teacher_crop",
    "teacher_region",
]
