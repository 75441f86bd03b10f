"""Datasets in the origin layout: ``DATA/{real,replay,printed,2dmask}/<sample>/`` with exactly
5 images per sample; label spoof = class != real.

Also: person-disjoint, class-stratified, seeded splits. ``prepare`` (videos → samples) lives in
:mod:`rtliveness.training.prepare`.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from ..config import DEFAULT_PERSON_PATTERN
from ..errors import ConfigError, DataError
from ..model.dims import WINDOW
from ..runtime.crop import center_rescale
from .attacks import CLASSES

__all__ = [
    "CLASSES",
    "Sample",
    "Dataset",
    "scan_dataset",
    "split_samples",
    "load_windows",
    "DATA_META",
    "DEFAULT_PERSON_PATTERN",
    "person_id",
    "person_of_sample",
    "sample_name",
    "stored_crop_scale",
    "wider_than_stored",
]

#: the images the data commands read (a sample's 5 crops, ``pretrain``'s photos, ``synth``'s stills): the
#: project's one list, every format OpenCV decodes that cameras and tools write (WebP, TIFF included)
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
#: the videos the data commands read (``prepare``'s inputs, ``synth``'s live assets)
#: (phones' .3gp, camcorders' .mts / .m2ts, broadcast .ts, .mpg, .wmv, .flv included: FFmpeg reads them all)
VIDEO_EXT = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm", ".3gp", ".mts", ".m2ts", ".ts", ".mpg", ".mpeg", ".wmv", ".flv")
DATA_META = "rtliveness_data.json"


@dataclass(frozen=True)
class Sample:
    name: str
    class_name: str
    images: tuple[Path, ...]
    person: str

    @property
    def label(self) -> int:
        """1 = spoof (any attack class), 0 = bona fide."""
        return int(self.class_name != "real")


@dataclass(frozen=True)
class Dataset:
    root: Path
    samples: tuple[Sample, ...]
    crop_scale: float | None  # context scale of the stored crops (None: unknown, used as is)
    skipped: tuple[str, ...] = field(default_factory=tuple)  # the samples ``skip_bad`` left out (``class/sample``)

    def counts(self) -> dict[str, int]:
        out = {c: 0 for c in CLASSES}
        for s in self.samples:
            out[s.class_name] += 1
        return out


def read_json(path: Path, what: str):
    """A JSON file the training commands read (a split file, a dataset's metadata): a file that
    is not JSON is one :class:`DataError` line naming it, never a bare JSONDecodeError."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{what} {path} is not valid JSON ({exc}); fix or replace it") from None


def read_split_file(path: Path) -> dict[str, list[str]]:
    """A split file (``{"train": [sample names], "dev": [...], "test": [...]}``, what ``train``
    writes as ``RUN/split.json``): a missing file or a folder is a :class:`ConfigError`, anything
    but an object of lists of sample names, or a sample named twice, one :class:`DataError` line
    naming the file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"split file {path} is a folder; pass the split.json inside a training run")
    if not path.is_file():
        raise ConfigError(f"split file not found: {path}; pass the split.json a training run wrote")
    names = read_json(path, "split file")
    if not isinstance(names, dict) or not all(isinstance(v, list) and all(isinstance(n, str) for n in v)
                                              for v in names.values()):
        raise DataError(f"split file {path} is not a split: expected a JSON object of sample-name lists, "
                        'e.g. {"train": ["real/real_ann_00000", ...], "dev": [...], "test": [...]}')
    seen: dict[str, str] = {}
    for k, v in names.items():
        for n in v:
            if n in seen:
                where = f"twice in the {k} split" if seen[n] == k else f"in both the {seen[n]} and the {k} split"
                raise DataError(f"sample {n} is {where} of {path}; a sample belongs to one split, once")
            seen[n] = k
    return names


def compile_person_pattern(pattern: str | None) -> "re.Pattern | None":
    """``--person-pattern`` compiled once; an invalid regular expression is one line."""
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise DataError(f"--person-pattern {pattern!r} is not a valid regular expression ({exc})") from None


def person_id(text: str) -> str:
    """A person id usable inside sample names (``<class>_<person>_<k>``): lower-case letters and
    digits only. The one place that rule lives (``prepare`` and ``synth`` use it)."""
    s = re.sub(r"[^0-9a-z]+", "x", str(text).lower()).strip("x")
    return s or "person"


def sample_name(class_name: str, person: str, k: int) -> str:
    """The folder name of a sample, parsed back by :data:`DEFAULT_PERSON_PATTERN`."""
    return f"{class_name}_{person_id(person)}_{k:05d}"


def person_of_sample(name: str, person_pattern: str | None = DEFAULT_PERSON_PATTERN) -> str:
    """The person id of a sample name (``class/<class>_<person>_<k>`` or just the folder name)."""
    return _person_of(name.rsplit("/", 1)[-1], compile_person_pattern(person_pattern))


def _person_of(name: str, pattern: re.Pattern | None) -> str:
    if pattern is not None:
        m = pattern.search(name)
        if m:
            return m.group(1) if m.groups() else m.group(0)
    return name  # no person id: the sample is its own group


def scan_dataset(root: str | Path, skip_bad: bool = False, person_pattern: str | None = DEFAULT_PERSON_PATTERN,
                 check_images: bool = True) -> Dataset:
    """Read the origin layout under ``root``. Malformed samples raise :class:`DataError` naming
    them, or are skipped and counted with ``skip_bad=True``. Unknown class folders are an error, and
    so are images lying in a class folder outside any sample folder; hidden folders (a sample
    ``rtliveness prepare`` was still writing) and hidden files (macOS's ``._0.png`` companions,
    ``.DS_Store``) are not read."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder not found: {root}; expected {root}/{{{','.join(CLASSES)}}}/<sample>/ with 5 images each")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [p.name for p in folders if p.name not in CLASSES]
    if unknown:
        raise DataError(f"unknown class folders in {root}: {', '.join(unknown)}; allowed: {', '.join(CLASSES)} (move or rename them)")
    if not folders:
        raise DataError(f"no class folders in {root}; expected {', '.join(CLASSES)}")
    pat = compile_person_pattern(person_pattern)
    samples: list[Sample] = []
    skipped: list[str] = []
    for cls_dir in folders:
        loose = sorted(p.name for p in cls_dir.iterdir() if _is_image_file(p))
        if loose:  # never read: each sample is a folder of its own
            raise DataError(f"{cls_dir} holds {len(loose)} image{'s' if len(loose) != 1 else ''} outside any sample folder "
                            f"({', '.join(loose[:3])}{' …' if len(loose) > 3 else ''}); a sample is a folder of {WINDOW} "
                            f"images ({cls_dir}/<sample>/0.png … {WINDOW - 1}.png): move them into sample folders")
        videos = sorted(p.name for p in cls_dir.iterdir() if p.suffix.lower() in VIDEO_EXT and p.is_file()
                        and not p.name.startswith("."))
        if videos:  # a folder of recordings, as `prepare` takes them: never read here
            raise DataError(f"{cls_dir} holds video{'s' if len(videos) != 1 else ''} ({', '.join(videos[:3])}"
                            f"{' …' if len(videos) > 3 else ''}), not sample folders of {WINDOW} images: cut the "
                            f"recordings into samples first: rtliveness prepare {root} --out DATA, then use DATA")
        for sdir in sorted(p for p in cls_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            images = tuple(sorted((p for p in sdir.iterdir() if _is_image_file(p)), key=_natural_key))
            problem = None
            if len(images) != WINDOW:
                problem = f"sample {sdir} has {len(images)} images, expected {WINDOW}" + _unread_files(sdir)
            elif check_images:
                for img in images:
                    if cv2.imread(str(img), cv2.IMREAD_REDUCED_COLOR_8) is None:
                        problem = f"sample {sdir}: image {img.name} cannot be read (corrupt or not an image)"
                        break
            if problem:
                if skip_bad:
                    skipped.append(f"{cls_dir.name}/{sdir.name}")
                    continue
                raise DataError(problem + "; fix or remove it, or pass --skip-bad")
            samples.append(Sample(f"{cls_dir.name}/{sdir.name}", cls_dir.name, images, _person_of(sdir.name, pat)))
    if not samples:
        raise DataError(f"no usable samples under {root}" + (f" ({len(skipped)} skipped as malformed)" if skipped else ""))
    return Dataset(root, tuple(samples), stored_crop_scale(root), tuple(skipped))


def stored_crop_scale(root: Path) -> float | None:
    """The context scale of the crops a dataset folder stores (its :data:`DATA_META`), None
    where the folder has no metadata (crops used as they are)."""
    meta_path = Path(root) / DATA_META
    if not meta_path.is_file():
        return None
    try:
        return float(read_json(meta_path, "dataset metadata")["crop_scale"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{meta_path} is not valid ({exc}); fix or delete it") from exc


_SCALE_TOL = 1e-6


def wider_than_stored(crop_scale: float, stored: float | None) -> bool:
    """The one rule between a model's crop scale and a dataset's stored crops: a stored crop can
    be cut down to a narrower context (:func:`center_rescale`), never widened."""
    return stored is not None and crop_scale > stored + _SCALE_TOL


def _is_image_file(p: Path) -> bool:
    """A sample's image by its name: an image extension (any case), not hidden (a ``._0.png``
    that macOS writes beside ``0.png`` on a non-Mac disk holds no image)."""
    return p.suffix.lower() in IMAGE_EXT and not p.name.startswith(".") and p.is_file()


def _unread_files(sdir: Path) -> str:
    """The extensions of the files in a sample folder that are not read as images (a ``.heic``
    export, a ``.gif``), for the message of a sample with too few images; "" when there are none."""
    other = sorted({p.suffix.lower() or p.name for p in sdir.iterdir()
                    if not p.name.startswith(".") and p.is_file() and p.suffix.lower() not in IMAGE_EXT})
    if not other:
        return ""
    return f" ({', '.join(other)} files are not read; a sample's images are {', '.join(IMAGE_EXT)})"


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.stem)]


def split_samples(samples: Sequence[Sample], fractions: tuple[float, ...] = (0.7, 0.15, 0.15),
                  names: tuple[str, ...] = ("train", "dev", "test"), seed: int = 0) -> dict[str, list[Sample]]:
    """Person-disjoint splits, stratified by class as well as identities allow.

    Persons are shuffled with ``seed`` and each goes, whole, to the split whose per-class sample
    counts lag furthest behind their target; a tie goes to the split filled least, relative to
    its share (so dev and test take turns when every person is in one class), then to the larger
    share. (The origin script split a class-ordered list 70/30 without shuffling, which leaves
    whole classes out of training.)
    """
    if len(fractions) != len(names) or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ValueError(f"fractions {fractions} must be non-negative, sum to 1 and match names {names}")
    by_person: dict[str, list[Sample]] = {}
    for s in samples:
        by_person.setdefault(s.person, []).append(s)
    persons = sorted(by_person)
    rng = random.Random(seed)
    rng.shuffle(persons)
    # largest groups first so they land where they fit; ties keep the shuffled order
    persons.sort(key=lambda p: -len(by_person[p]))
    totals = {c: sum(1 for s in samples if s.class_name == c) for c in CLASSES}
    have = {n: {c: 0 for c in CLASSES} for n in names}
    out: dict[str, list[Sample]] = {n: [] for n in names}
    for p in persons:
        group = by_person[p]
        gc = {c: sum(1 for s in group if s.class_name == c) for c in CLASSES}

        def priority(n: str, f: float) -> tuple[float, float, float]:
            lag = sum(f * totals[c] - have[n][c] for c in CLASSES if gc[c]) / max(1, sum(gc.values()))
            filled = sum(have[n].values()) / (f * len(samples))
            return round(lag, 9), -filled, f

        best = max(((n, f) for n, f in zip(names, fractions) if f > 0), key=lambda nf: priority(*nf))[0]
        out[best].extend(group)
        for c in CLASSES:
            have[best][c] += gc[c]
    for n in names:
        out[n].sort(key=lambda s: s.name)
    return out


def load_window(sample: Sample, input_size: int, crop_scale: float | None, data_scale: float | None) -> np.ndarray:
    """The 5 images of a sample as a (5, S, S, 3) BGR uint8 array at the model's crop scale."""
    out = []
    for p in sample.images:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise DataError(f"sample {sample.name}: image {p.name} cannot be read")
        if img.shape[0] != img.shape[1]:
            side = min(img.shape[:2])
            y0, x0 = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
            img = img[y0:y0 + side, x0:x0 + side]
        if data_scale is not None and crop_scale is not None and crop_scale < data_scale - _SCALE_TOL:
            img = center_rescale(img, data_scale, crop_scale, input_size)
        else:
            interp = cv2.INTER_AREA if img.shape[0] > input_size else cv2.INTER_LINEAR
            img = cv2.resize(img, (input_size, input_size), interpolation=interp)
        out.append(img)
    return np.stack(out)


def load_windows(samples: Sequence[Sample], input_size: int, crop_scale: float | None,
                 data_scale: float | None, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """All windows as one (N, 5, S, S, 3) uint8 array (kept in memory for fast epochs)."""
    arr = np.empty((len(samples), WINDOW, input_size, input_size, 3), np.uint8)
    for i, s in enumerate(samples):
        arr[i] = load_window(s, input_size, crop_scale, data_scale)
        if progress is not None:
            progress(i + 1, len(samples))
    return arr
