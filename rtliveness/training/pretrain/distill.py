"""Feature distillation: dlib's ImageNet ResNet-34 → the product's resnet18 encoder.

The student is torchvision ``resnet18(weights=None)`` with ``fc = Identity`` — exactly
``SpoofModel.encoder`` — so the returned state dict (keys ``conv1.weight``, ``bn1.*``,
``layer1.0.conv1.weight``, ...) loads into ``model.encoder`` or through
``rtliveness.training.start.load_pretrained_encoder``.

Each training sample is one augmented *view* of an image: a random resized crop (area fraction
``scale``, aspect ``ratio``), a horizontal flip and a brightness / contrast / saturation jitter.
The view is rendered once at the teacher's 227 px; the student's 112 px input is that same view
downsampled, so both networks see the same content. The teacher gets dlib's normalisation
(``(rgb - avg) / 256``), the student the product's (``rgb / 255``, ImageNet mean / std).

Loss, on L2-normalised 512-d features ``s`` (student) and ``t`` (teacher, ResNet-34's pooled
penultimate output)::

    cos_weight * mean(1 - <s, t>)  +  mse_weight * mean((s - t) ** 2)

(on unit vectors the MSE is ``2 (1 - <s, t>) / 512`` per sample, so the two terms pull the same
way; the student's feature norm is left free.)

``cache_views > 0`` precomputes the teacher features of a fixed bank of augmented views
(``cache_views`` per image) once, then trains the student on the bank — the teacher, about 8x
the student's forward cost, is then paid once per view instead of once per step.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from ...model.dims import EMBED_DIM, IMAGENET_MEAN, IMAGENET_STD
from ...model.spoofmodel import make_encoder
from .dlib_resnet import DLIB_IMAGENET_MEAN, DlibResNet, dlib_normalize

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DistillConfig",
    "DistillResult",
    "make_student",
    "render_views",
    "distill",
    "distill_resnet18",
    "heldout_agreement",
]



@dataclass(frozen=True)
class DistillConfig:
    """Distillation hyper-parameters (defaults: a reasonable CPU/GPU starting point)."""

    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    teacher_size: int = 227
    student_size: int = 112
    #: random resized crop: area fraction and aspect ratio ranges
    scale: tuple[float, float] = (0.25, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    #: colour jitter strengths (factor drawn from [1 - s, 1 + s])
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    cos_weight: float = 1.0
    mse_weight: float = 1.0
    #: > 0: precompute teacher features for this many views per image, then train on the bank
    cache_views: int = 0
    #: cache mode with a non-Sequence image iterable: how many images to take from it
    max_cache_images: int = 10_000
    #: batch size for the teacher when filling the cache
    teacher_batch_size: int = 32
    student_mean: tuple[float, float, float] = IMAGENET_MEAN
    student_std: tuple[float, float, float] = IMAGENET_STD
    seed: int = 0
    device: str = "cpu"
    #: torch intra-op threads during the run (None: leave as is)
    num_threads: int | None = None
    log_every: int = 10


@dataclass
class DistillResult:
    """The student's state dict plus what happened."""

    state_dict: dict[str, torch.Tensor]
    history: list[dict[str, float]] = field(default_factory=list)
    steps_done: int = 0
    #: student training images per second (teacher time included unless cached)
    images_per_s: float = 0.0
    #: teacher feature extraction images per second while filling the cache (0 if not cached)
    teacher_images_per_s: float = 0.0
    cached_views: int = 0


def make_student() -> nn.Module:
    """A new SpoofModel encoder (:func:`~rtliveness.model.spoofmodel.make_encoder`: torchvision
    ``resnet18(weights=None)`` with ``fc = Identity``, 512-d output)."""
    return make_encoder()


# ---------------------------------------------------------------------------------------------
# augmentation
# ---------------------------------------------------------------------------------------------


def _crop_box(rng: np.random.Generator, h: int, w: int, scale: tuple[float, float],
              ratio: tuple[float, float]) -> tuple[int, int, int, int]:
    """torchvision-style RandomResizedCrop box ``(y0, x0, height, width)``."""
    area = h * w
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_r))
        cw = int(round(math.sqrt(target * aspect)))
        ch = int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
    side = min(h, w)  # fallback: central square
    return (h - side) // 2, (w - side) // 2, side, side


def _jitter(view: torch.Tensor, b: float, c: float, s: float) -> torch.Tensor:
    """Brightness, contrast, saturation on a float RGB ``(3, H, W)`` view in 0..255."""
    view = view * b
    gray = (0.299 * view[0] + 0.587 * view[1] + 0.114 * view[2])
    view = (view - gray.mean()) * c + gray.mean()
    gray = (0.299 * view[0] + 0.587 * view[1] + 0.114 * view[2])[None]
    view = (view - gray) * s + gray
    return view.clamp(0.0, 255.0)


def render_views(images: Sequence[np.ndarray], rng: np.random.Generator, cfg: DistillConfig,
                 augment: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """One augmented view per RGB uint8 image → ``(teacher_rgb, student_rgb)`` float tensors on
    the 0..255 scale, ``(N, 3, teacher_size, teacher_size)`` and the same view downsampled to
    ``(N, 3, student_size, student_size)``. ``augment=False`` gives the central square."""
    teacher_views = []
    for im in images:
        if im.ndim != 3 or im.shape[2] != 3 or im.dtype != np.uint8:
            raise ValueError(f"expected RGB uint8 (H, W, 3) images, got {im.dtype} {im.shape}")
        h, w = im.shape[:2]
        if augment:
            y0, x0, ch, cw = _crop_box(rng, h, w, cfg.scale, cfg.ratio)
        else:
            side = min(h, w)
            y0, x0, ch, cw = (h - side) // 2, (w - side) // 2, side, side
        crop = torch.from_numpy(np.ascontiguousarray(im[y0:y0 + ch, x0:x0 + cw])).permute(2, 0, 1)[None].float()
        view = F.interpolate(crop, size=(cfg.teacher_size, cfg.teacher_size), mode="bilinear",
                             align_corners=False, antialias=True)[0].clamp(0.0, 255.0)
        if augment:
            if rng.random() < cfg.flip_p:
                view = view.flip(-1)
            view = _jitter(view, rng.uniform(1 - cfg.brightness, 1 + cfg.brightness),
                           rng.uniform(1 - cfg.contrast, 1 + cfg.contrast),
                           rng.uniform(1 - cfg.saturation, 1 + cfg.saturation))
        teacher_views.append(view)
    teacher = torch.stack(teacher_views)
    student = F.interpolate(teacher, size=(cfg.student_size, cfg.student_size), mode="bilinear",
                            align_corners=False, antialias=True).clamp(0.0, 255.0)
    return teacher, student


def _student_normalize(rgb: torch.Tensor, cfg: DistillConfig) -> torch.Tensor:
    mean = torch.tensor(cfg.student_mean, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    std = torch.tensor(cfg.student_std, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb / 255.0 - mean) / std


# ---------------------------------------------------------------------------------------------
# image supply
# ---------------------------------------------------------------------------------------------


def _batches(images: Iterable[np.ndarray], batch_size: int, rng: np.random.Generator) -> Iterator[list[np.ndarray]]:
    """Sequences: shuffled epochs, forever. Other iterables: consumed once, as a stream."""
    if isinstance(images, Sequence):
        if len(images) == 0:
            raise ValueError("no images to distill on")
        while True:
            order = rng.permutation(len(images))
            for i in range(0, len(order), batch_size):
                chunk = order[i:i + batch_size]
                if len(chunk) < batch_size:  # top up from the next epoch's order
                    chunk = np.concatenate([chunk, rng.permutation(len(images))[:batch_size - len(chunk)]])
                yield [images[int(j)] for j in chunk]
    it = iter(images)
    while True:
        batch = list(itertools.islice(it, batch_size))
        if len(batch) < batch_size:
            return
        yield batch


def _teacher_features(teacher: DlibResNet, rgb: torch.Tensor) -> torch.Tensor:
    mean = getattr(teacher, "mean", DLIB_IMAGENET_MEAN)
    with torch.no_grad():
        return teacher.features(dlib_normalize(rgb, mean)).float()


def _loss(student_feat: torch.Tensor, teacher_feat: torch.Tensor, cfg: DistillConfig) -> tuple[torch.Tensor, torch.Tensor]:
    s = F.normalize(student_feat, dim=1)
    t = F.normalize(teacher_feat, dim=1)
    cos = (s * t).sum(dim=1)
    loss = cfg.cos_weight * (1.0 - cos).mean() + cfg.mse_weight * F.mse_loss(s, t)
    return loss, cos.detach().mean()


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------


def distill(teacher: DlibResNet, images: Iterable[np.ndarray], steps: int,
            config: DistillConfig | None = None, student: nn.Module | None = None,
            callback: Callable[[dict[str, float]], None] | None = None) -> DistillResult:
    """Train a resnet18 student (new, or ``student``) for ``steps`` steps to match the teacher's
    512-d penultimate features on augmented views of ``images`` (RGB uint8 ``(H, W, 3)``; a
    Sequence is sampled in shuffled epochs, any other iterable is read once as a stream and
    training stops early when it runs out). The teacher is moved to ``config.device``, put in
    eval mode and never updated. ``callback`` gets each logged history row."""
    cfg = config or DistillConfig()
    if steps < 0:
        raise ValueError("steps must be >= 0")
    device = torch.device(cfg.device)
    old_threads = torch.get_num_threads()
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    try:
        rng = np.random.default_rng(cfg.seed)
        torch.manual_seed(cfg.seed)
        teacher = teacher.to(device).eval()
        net = (student or make_student()).to(device).train()
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

        def lr_at(step: int) -> float:
            if step < cfg.warmup_steps:
                return cfg.lr * (step + 1) / cfg.warmup_steps
            span = max(1, steps - cfg.warmup_steps)
            return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - cfg.warmup_steps) / span)))

        result = DistillResult(state_dict={})
        bank_rgb: torch.Tensor | None = None
        bank_feat: torch.Tensor | None = None
        if cfg.cache_views > 0 and steps > 0:
            bank_rgb, bank_feat, result.teacher_images_per_s = _fill_cache(teacher, images, cfg, rng, device)
            result.cached_views = int(bank_rgb.shape[0])
        batches = _batches(images, cfg.batch_size, rng) if bank_rgb is None else None

        t0 = time.perf_counter()
        seen = 0
        for step in range(steps):
            if bank_rgb is not None and bank_feat is not None:
                idx = torch.from_numpy(rng.integers(0, bank_rgb.shape[0], cfg.batch_size))
                s_rgb = bank_rgb[idx].to(device).float()
                t_feat = bank_feat[idx].to(device)
            else:
                assert batches is not None
                batch = next(batches, None)
                if batch is None:
                    break
                t_rgb, s_rgb = render_views(batch, rng, cfg)
                t_feat = _teacher_features(teacher, t_rgb.to(device))
                s_rgb = s_rgb.to(device)
            if t_feat.shape[1] != 512:
                raise ValueError(f"teacher features are {t_feat.shape[1]}-d; resnet18 gives {EMBED_DIM}")
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            loss, cos = _loss(net(_student_normalize(s_rgb, cfg)), t_feat, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += int(s_rgb.shape[0])
            result.steps_done = step + 1
            if (step + 1) % cfg.log_every == 0 or step + 1 == steps:
                elapsed = time.perf_counter() - t0
                row = {"step": float(step + 1), "loss": float(loss.detach()), "cos": float(cos),
                       "lr": lr_at(step), "images_per_s": seen / max(elapsed, 1e-9)}
                result.history.append(row)
                if callback is not None:
                    callback(row)
        elapsed = time.perf_counter() - t0
        result.images_per_s = seen / elapsed if seen else 0.0
        net.eval()
        result.state_dict = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
        return result
    finally:
        torch.set_num_threads(old_threads)


def _fill_cache(teacher: DlibResNet, images: Iterable[np.ndarray], cfg: DistillConfig,
                rng: np.random.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Render ``cache_views`` views per image; keep the student views as uint8 and the teacher
    features as float32 (CPU). Returns (views, features, teacher images/s)."""
    if isinstance(images, Sequence):
        pool = list(images)
    else:
        pool = list(itertools.islice(iter(images), cfg.max_cache_images))
    if not pool:
        raise ValueError("no images to distill on")
    jobs = [im for im in pool for _ in range(cfg.cache_views)]
    views: list[torch.Tensor] = []
    feats: list[torch.Tensor] = []
    t0 = time.perf_counter()
    for i in range(0, len(jobs), cfg.teacher_batch_size):
        t_rgb, s_rgb = render_views(jobs[i:i + cfg.teacher_batch_size], rng, cfg)
        feats.append(_teacher_features(teacher, t_rgb.to(device)).cpu())
        views.append(s_rgb.round().to(torch.uint8))
    rate = len(jobs) / max(time.perf_counter() - t0, 1e-9)
    return torch.cat(views), torch.cat(feats), rate


def distill_resnet18(teacher: DlibResNet, images_iter: Iterable[np.ndarray], steps: int,
                     config: DistillConfig | None = None, student: nn.Module | None = None,
                     callback: Callable[[dict[str, float]], None] | None = None) -> dict[str, torch.Tensor]:
    """:func:`distill` returning only the student's state dict (resnet18, no ``fc.*`` keys)."""
    return distill(teacher, images_iter, steps, config, student, callback).state_dict


def heldout_agreement(teacher: DlibResNet, student: torch.nn.Module, images: Sequence[np.ndarray],
                      cfg: DistillConfig) -> float:
    """Mean cosine similarity of student and teacher features on each image's central view."""
    if not images:
        return float("nan")
    t_rgb, s_rgb = render_views(images, np.random.default_rng(0), cfg, augment=False)
    was_training = student.training
    student.eval()
    with torch.no_grad():
        t = _teacher_features(teacher.eval(), t_rgb)
        s = student(_student_normalize(s_rgb, cfg))
    student.train(was_training)
    return float(F.cosine_similarity(s, t, dim=1).mean())
