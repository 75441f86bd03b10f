"""Soft targets from a real-data teacher (MiniFASNet) for knowledge distillation.

The teacher scores every stored crop of a sample (the teacher's own crop rule, applied inside
our stored crop; see :mod:`rtliveness.training.teachers.minifasnet`) and the sample's target is
the mean teacher ``p_spoof`` over its 5 crops. Scores are cached in a JSON file keyed by sample
name, so a resumed or repeated run does not score again. The teacher is never shipped: it is
read from the folder the user gives (``--teacher DIR``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from ..atomic import atomic_file
from ..errors import DataError
from .data import Sample
from .teachers.minifasnet_constants import SPOOF_THRESHOLD

__all__ = ["soft_targets", "teacher_features", "mix_targets"]


def soft_targets(teacher_dir: str | Path, samples: Sequence[Sample], crop_scale: float, cache: Path | None = None,
                 progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Teacher ``p_spoof`` per sample (mean over its crops), shape ``(len(samples),)``.

    ``crop_scale``: the context scale the samples' crops were stored at (2.7 for ``prepare`` and
    ``synth``)."""
    from .teachers.minifasnet import MiniFasTeacher

    known: dict[str, float] = {}
    if cache is not None and Path(cache).is_file():
        known = {k: float(v) for k, v in json.loads(Path(cache).read_text()).items()}
    todo = [s for s in samples if s.name not in known]
    if todo:
        teacher = MiniFasTeacher.from_dir(teacher_dir, detector=False)
        for i, s in enumerate(todo):
            known[s.name] = float(np.mean(teacher.score_crops_batch(_read_crops(s), crop_scale)))
            if progress is not None:
                progress(i + 1, len(todo))
        if cache is not None:
            with atomic_file(cache, "w") as fh:
                fh.write(json.dumps(known, indent=0, sort_keys=True))
    return np.array([known[s.name] for s in samples], np.float64)


def teacher_features(teacher_dir: str | Path, samples: Sequence[Sample], crop_scale: float, cache: Path | None = None,
                     progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The teacher's embedding of every crop of every sample (the V2 network's 128-d input of
    its classifier, :meth:`MiniFasTeacher.embed_crops_batch`), shape ``(len(samples), crops, 128)``
    float32: the targets of feature distillation (``rtliveness train --distill-features W``).

    Cached in an ``.npz`` keyed by sample name, written atomically, like :func:`soft_targets`."""
    from .teachers.minifasnet import MiniFasTeacher

    known: dict[str, np.ndarray] = {}
    if cache is not None and Path(cache).is_file():
        with np.load(cache) as z:
            known = {k: z[k] for k in z.files}
    todo = [s for s in samples if s.name not in known]
    if todo:
        teacher = MiniFasTeacher.from_dir(teacher_dir, detector=False)
        for i, s in enumerate(todo):
            known[s.name] = teacher.embed_crops_batch(_read_crops(s), crop_scale)
            if progress is not None:
                progress(i + 1, len(todo))
        if cache is not None:
            with atomic_file(cache, "wb") as fh:
                np.savez(fh, **known)
    return np.stack([known[s.name] for s in samples]).astype(np.float32)


def _read_crops(s: Sample) -> list[np.ndarray]:
    crops = []
    for p in s.images:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise DataError(f"sample {s.name}: image {p.name} cannot be read")
        crops.append(img)
    return crops


def mix_targets(labels: np.ndarray, teacher: np.ndarray, use: np.ndarray, weight: float,
                agree_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(training targets, which samples were blended). Targets: ``(1 - weight) * label + weight *
    teacher`` where ``use`` is true and the teacher score is finite, the hard label elsewhere.

    ``agree_only``: blend only where the teacher's own verdict (``p_spoof >= SPOOF_THRESHOLD``)
    is the label; where it is fooled, or wrong about a live face, the target stays the hard label
    instead of being pulled to the middle. The teacher then only says *how sure* to be, never the
    opposite of what the sample is."""
    labels = np.asarray(labels, np.float32)
    raw = np.asarray(teacher, np.float64)
    ok = np.asarray(use, bool) & np.isfinite(raw)
    t = np.nan_to_num(raw)
    if agree_only:
        ok &= (t >= SPOOF_THRESHOLD) == (labels >= 0.5)
    return np.where(ok, (1.0 - weight) * labels + weight * t, labels).astype(np.float32), ok
