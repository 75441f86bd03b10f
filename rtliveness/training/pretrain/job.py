"""``rtliveness pretrain``: the I/O around :func:`.distill.distill`.

Finds the images (files, or folders searched recursively), reads them as RGB, loads the dlib
teacher, holds out a few images to measure how well the student matches the teacher on images it
never trained on (before and after), distils, and writes the student's state dict atomically
(``torch.load``-able, loads into ``SpoofModel.encoder`` through ``rtliveness train --pretrained``)
with a JSON record beside it (``<out>.json``: settings, history, held-out agreement, teacher sha256).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ...errors import ConfigError, DataError, WeightsError
from ..data import IMAGE_EXT
from ..files import atomic_write_text
from .distill import DistillConfig, distill, heldout_agreement, make_student
from .dlib_format import DlibFormatError, read_dnn_file
from .dlib_resnet import DlibResNet, load_dlib_resnet34

__all__ = ["IMAGE_SUFFIXES", "PretrainReport", "find_images", "read_images", "load_feature_teacher",
           "pretrain_encoder"]

IMAGE_SUFFIXES = IMAGE_EXT  # one list with the datasets' images (training.data)


@dataclass(frozen=True)
class PretrainReport:
    """What a pretraining run did and how well the student matches the teacher."""

    out: str
    images: int
    heldout_images: int
    steps: int
    cached_views: int
    student_images_per_s: float
    teacher_images_per_s: float
    #: mean cosine(student, teacher) on the held-out images' central views, before / after
    heldout_cos_before: float | None  # None: too few images to hold any out (fewer than 10)
    heldout_cos_after: float | None
    seconds: float


def find_images(paths: Sequence[Path], max_images: int | None = None, seed: int = 0) -> list[Path]:
    """Image files among ``paths`` (folders are searched recursively), sorted; with
    ``max_images``, a seeded random subset of that many (sorted again)."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found.extend(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                raise ConfigError(f"not an image file: {p}; give images ({', '.join(IMAGE_SUFFIXES)}) or folders of them")
            found.append(p)
        else:
            raise ConfigError(f"image path not found: {p}")
    found = sorted(set(found))
    if not found:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {', '.join(str(p) for p in paths)}")
    if max_images is not None and len(found) > max_images:
        keep = np.random.default_rng(seed).choice(len(found), size=max_images, replace=False)
        found = sorted(found[int(i)] for i in keep)
    return found


def read_images(files: Sequence[Path], max_side: int = 480) -> list[np.ndarray]:
    """RGB uint8 images, each shrunk (never enlarged) so its longer side is at most ``max_side``."""
    import cv2

    out = []
    for f in files:
        bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DataError(f"cannot decode image {f}; remove it or re-encode it as PNG/JPEG")
        h, w = bgr.shape[:2]
        scale = max_side / max(h, w)
        if scale < 1.0:
            bgr = cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        out.append(np.ascontiguousarray(bgr[:, :, ::-1]))
    return out


def check_dnn_path(path: Path) -> Path:
    """The dlib network's path as a file that exists (a cheap check, before any parsing)."""
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"--dlib is a folder: {path}; give the .dnn file (resnet34_1000_imagenet_classifier.dnn)")
    if not path.is_file():
        raise WeightsError(f"dlib network not found: {path}; run scripts/fetch_dlib_resnet34.sh to cache "
                           "resnet34_1000_imagenet_classifier.dnn")
    return path


def load_feature_teacher(path: Path) -> DlibResNet:
    """dlib's ImageNet ResNet-34 file, checked quirk by quirk; any other dlib network that ends in
    a global average pool and an fc with 512 inputs is accepted as it is (for small test nets)."""
    path = check_dnn_path(path)
    try:
        return load_dlib_resnet34(path)
    except DlibFormatError:
        pass
    try:
        dnn_net = read_dnn_file(path).net
        net = DlibResNet(dnn_net).eval()
    except DlibFormatError as exc:
        raise WeightsError(f"{path} is not a dlib ImageNet ResNet ({exc}); use resnet34_1000_imagenet_classifier.dnn") from exc
    fc = dnn_net.layers[-1]
    if getattr(fc, "num_inputs", None) != 512:
        raise WeightsError(f"{path}: its pooled features are {getattr(fc, 'num_inputs', '?')}-d; the resnet18 "
                           "encoder gives 512")
    return net


def pretrain_encoder(image_paths: Sequence[Path], dnn: Path, out: Path, steps: int,
                     config: DistillConfig, max_images: int | None = None, heldout: int = 64,
                     log: Callable[[str], None] = lambda m: None) -> PretrainReport:
    """Distil the dlib network at ``dnn`` into a resnet18 encoder on the images under
    ``image_paths``; write the state dict to ``out`` and the record to ``out`` + ``.json``."""
    from ...model.checkpoint import atomic_torch_save, sha256_file

    if steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {steps}")
    t0 = time.perf_counter()
    # the paths first (the network's, then the images'): a typo is told before the 200 MB network is parsed
    check_dnn_path(dnn)
    files = find_images(image_paths, max_images, config.seed)
    order = np.random.default_rng(config.seed + 1).permutation(len(files))
    n_held = min(heldout, len(files) // 10)
    held_files = [files[int(i)] for i in order[:n_held]]
    train_files = [files[int(i)] for i in order[n_held:]]
    if len(train_files) < config.batch_size:
        raise DataError(f"{len(train_files)} training images, fewer than one batch of {config.batch_size}; "
                        "give more images or a smaller --batch-size")
    teacher = load_feature_teacher(dnn)
    log(f"{len(train_files)} images to distil on, {len(held_files)} held out; teacher {dnn.name}")
    train_imgs, held_imgs = read_images(train_files), read_images(held_files)
    torch.manual_seed(config.seed)
    student = make_student()
    before = heldout_agreement(teacher, student, held_imgs, config)

    def on_row(row: dict[str, float]) -> None:
        log(f"step {int(row['step'])}/{steps}  loss {row['loss']:.4f}  cos {row['cos']:.3f}  "
            f"{row['images_per_s']:.0f} img/s")

    res = distill(teacher, train_imgs, steps, config, student=student, callback=on_row)
    if not all(torch.isfinite(v).all() for v in res.state_dict.values() if v.is_floating_point()):
        raise ConfigError(f"distillation diverged (weights are no longer finite numbers) at --lr {config.lr}; "
                          "nothing written: use a smaller --lr")
    trained = make_student()
    trained.load_state_dict(res.state_dict)
    after = heldout_agreement(teacher, trained, held_imgs, config)
    out = Path(out)
    atomic_torch_save(res.state_dict, out)
    report = PretrainReport(out=str(out), images=len(train_files), heldout_images=len(held_files),
                            steps=res.steps_done, cached_views=res.cached_views,
                            student_images_per_s=round(res.images_per_s, 1),
                            teacher_images_per_s=round(res.teacher_images_per_s, 1),
                            heldout_cos_before=None if not held_imgs else round(before, 4),
                            heldout_cos_after=None if not held_imgs else round(after, 4),
                            seconds=round(time.perf_counter() - t0, 1))
    record = {"report": asdict(report), "teacher": {"file": dnn.name, "sha256": sha256_file(dnn)},
              "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
              "history": res.history}
    atomic_write_text(out.with_name(out.name + ".json"), json.dumps(record, indent=2, allow_nan=False) + "\n")
    return report
