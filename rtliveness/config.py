"""Small frozen configuration records, validated when they are created."""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ConfigError

#: the person id in a sample's folder name ``<class>_<person>_<k>`` (group 1): what keeps splits
#: person-disjoint and groups the 95 % intervals (``--person-pattern`` of train and eval)
DEFAULT_PERSON_PATTERN = r"^[^_]+_([^_]+)_"

__all__ = [
    "DetectorConfig",
    "TrackerConfig",
    "StreamConfig",
    "PipelineConfig",
    "parse_device",
]

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def parse_device(device: str) -> str:
    """Validate a device string (``auto``, ``cpu``, ``cuda`` or ``cuda:N``) and return it."""
    if not isinstance(device, str) or not _DEVICE_RE.match(device):
        raise ConfigError(f"invalid device {device!r}: use auto, cpu, cuda or cuda:N")
    return device


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def _as_float(value: object) -> float | None:
    """A float from a number or a numeric string (``"0.5"``, ``Decimal``, numpy), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (numbers.Real, str)) or type(value).__name__ == "Decimal":
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
    return None


def as_int(value: object) -> int | None:
    """An int from an integer (numpy's too) or a string of digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    return None


def as_bool(value: object) -> bool | None:
    """A flag from a bool (numpy's too) or 0 / 1, else None."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(value)
    return None


def check_field_types(record: object) -> None:
    """Each field of a frozen config record holds a value of its annotated kind, normalised in
    place — a float where ``float`` is written (numbers, numeric strings and numpy scalars are
    converted), an int where ``int`` is (numpy integers and strings of digits too), a flag
    (``bool``, numpy's, 0 / 1), a string, a path, a tuple (lists and arrays become tuples);
    ``None`` where ``| None`` is written — else :class:`ConfigError` naming the record and the
    field. The range checks that follow compare values, and ``None < 0.5`` would be a bare
    ``TypeError``."""
    import dataclasses
    import os

    cls = type(record).__name__
    for f in dataclasses.fields(record):  # type: ignore[arg-type]
        value = getattr(record, f.name)
        kinds = [k.strip() for k in str(f.type).split("|")]
        if "None" in kinds and value is None:
            continue
        base = kinds[0]
        new: object = None
        if base == "float":
            new, want = _as_float(value), "a number"
        elif base == "int":
            new, want = as_int(value), "an integer"
        elif base == "bool":
            new, want = as_bool(value), "true or false"
        elif base == "str":
            new, want = (value if isinstance(value, str) else None), "a string"
        elif base == "Path":
            new, want = (value if isinstance(value, (str, os.PathLike)) else None), "a path (str or pathlib.Path)"
        elif base.startswith("tuple["):
            items = list(value) if isinstance(value, (tuple, list, np.ndarray)) else None
            if base.startswith("tuple[str"):
                want = "a tuple of strings"
                new = tuple(items) if items is not None and all(isinstance(v, str) for v in items) else None
            else:
                want = "a tuple of numbers"
                floats = [_as_float(v) for v in items] if items is not None else [None]
                new = tuple(floats) if all(v is not None for v in floats) else None  # type: ignore[arg-type]
        else:  # records and other kinds are checked by the record itself
            continue
        if new is None:
            none = " (or None)" if "None" in kinds else ""
            raise ConfigError(f"{cls}: {f.name} must be {want}{none}, got {value!r}")
        if new is not value:
            object.__setattr__(record, f.name, new)


#: the loop's default low-light target: a face crop whose mean grey level is under this fraction of
#: full scale (0.35 = about 89 of 255) is brightened up to it before it is scored
#: (:mod:`rtliveness.runtime.exposure`); 0 = off. Off since round 20 (weights/reports/round20/):
#: on dev it kept live people live in the dark but let rendered replays through.
LOW_LIGHT_TARGET = 0.0
#: the largest gain the low-light lift applies to a crop
LOW_LIGHT_MAX_GAIN = 4.0


def check_low_light_target(target: float) -> float:
    """``target`` as a float in [0, 1); raises :class:`~rtliveness.errors.ConfigError` otherwise."""
    try:
        t = float(target)
    except (TypeError, ValueError):
        t = float("nan")
    _check(0.0 <= t < 1.0, f"--low-light-target (low_light_target) must be in [0, 1) (0 = off), got {target!r}")
    return t


#: what a bad ``--threshold`` / ``threshold=`` is told (the CLI's and the config records' case)
THRESHOLD_ADVICE = "leave it out for the weights' calibrated threshold, or choose --security LEVEL"


def check_threshold(threshold: float, name: str = "--threshold (threshold)", advice: str | None = THRESHOLD_ADVICE) -> float:
    """A decision threshold given by the user (``--threshold``, ``threshold=``) as a float in
    (0, 1); raises :class:`~rtliveness.errors.ConfigError` otherwise (the one place of this rule),
    naming it ``name``, with ``advice`` (None: none)."""
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        t = float("nan")
    _check(0.0 < t < 1.0, f"{name} must be in (0, 1), got {threshold!r}" + (f"; {advice}" if advice else ""))
    return t


def check_max_frames(max_frames: object, flag: str = "--max-frames") -> int | None:
    """A frame limit given by the user (``run``/``fleet --max-frames``, ``process_source(max_frames=)``):
    ``None`` (every frame) or an integer >= 1 (NumPy integers too, not bools), returned as an ``int``;
    raises :class:`~rtliveness.errors.ConfigError` naming ``flag`` otherwise (the one place of this rule)."""
    if max_frames is None:
        return None
    _check(not isinstance(max_frames, bool) and isinstance(max_frames, (int, np.integer)) and max_frames >= 1,
           f"{flag} must be an integer >= 1 (leave it out for every frame), got {max_frames!r}")
    return int(max_frames)


def check_calibration(method: str, target: float | None, flag: str = "--calibration") -> None:
    """The one check of a calibration method and its target (``train --calibration``,
    ``calibrate --method``), made before any data is read (and before torch is imported): it
    used to fail after an epoch."""
    _check(method in ("eer", "apcer", "bpcer"), f"{flag} must be eer, apcer or bpcer, got {method!r}")
    _check(not (method == "eer" and target is not None),
           f"{flag} eer takes no --target (APCER = BPCER on dev); use {flag} apcer or bpcer with --target")
    _check(method == "eer" or target is not None, f"{flag} {method} needs --target T, a rate in [0, 1] (e.g. 0.05)")
    _check(method == "eer" or 0.0 <= target <= 1.0, f"{flag} {method} needs --target in [0, 1] (e.g. 0.05), got {target}")


#: ONNX opsets ``rtliveness export`` writes: those whose graphs ONNX Runtime loads and matches
#: PyTorch on (checked with torch 2.14: 5 and 6 write graphs it refuses; the TorchScript exporter
#: stops at 20)
ONNX_OPSETS = range(7, 21)


def check_onnx_opset(opset: object) -> int:
    """``opset`` if it is in :data:`ONNX_OPSETS`, else :class:`ConfigError` (checked before torch loads)."""
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in ONNX_OPSETS:
        raise ConfigError(f"ONNX opset must be in {ONNX_OPSETS[0]}..{ONNX_OPSETS[-1]} (what the exporter writes "
                          f"and ONNX Runtime loads), got {opset!r}; the default is 17")
    return opset


@dataclass(frozen=True)
class DetectorConfig:
    """Face detection settings.

    ``every_n``: run the detector on every N-th frame and let the tracker carry boxes between
    detections (1 = every frame). ``steady_every`` (opt-in): while every tracked face is steady
    — found by each of its last three detector runs, the latest within ``steady_iou`` IoU of
    where the tracker's constant-velocity carry predicted it — the detector runs every
    ``steady_every``-th frame instead; a new, lost or jumpy face brings ``every_n`` back at once
    (None, the default, or a value not above ``every_n``: a fixed cadence; the trade-off is in
    the README). ``max_side``: frames larger than this are downscaled for detection only (crops
    come from the full frame). ``min_face_frac``: the smallest face searched for, as a fraction of
    the frame's short side (``min_face_size``: in pixels instead); ``small_face_frac``: when a
    whole-frame run finds no face at that size, one more run looks down to this fraction (a
    person further from a phone or a high-resolution camera; None: off, and off with an
    explicit ``min_face_size``, and MTCNN's only: Haar has no confidence to weed out what it
    finds in fur and foliage at that size) — on the first such run and every
    ``small_face_every``-th after it while no face is found (a face-free camera is not searched
    twice on every frame). ``full_every``: while faces are tracked, only every N-th detector
    run scans the whole frame; the runs between scan the regions around the open tracks (each
    box widened by ``roi_margin`` box sides on every side, overlapping regions merged) and fall
    back to the whole frame at once when they hold fewer faces than there are tracks (1 = always
    the whole frame). ``batch_regions``: a detector that can scan several images at once (MTCNN)
    gets all regions of a run as one batch. ``min_confidence``: the detector confidence a face
    needs to be found; ``keep_confidence`` (MTCNN's): a face already tracked stays tracked while
    the detector's confidence in it is at least this (blur, dim light, a turned head, heavy
    compression lower it; the tracker lets such a box join the track it overlaps, never start
    one — :meth:`rtliveness.runtime.detect.MtcnnDetector.tracking`,
    :meth:`rtliveness.runtime.track.IouTracker.update`; None, or a value not below
    ``min_confidence``: every face needs ``min_confidence``). ``channels_last``: MTCNN on the CPU computes in
    channels-last layout (the same boxes up to float rounding in about a third less time; see
    :mod:`rtliveness.runtime.fastpool`). ``kind`` names an entry of the detector registry
    (:func:`rtliveness.runtime.detect.register_detector`); it is checked when the detector is
    built.
    """

    kind: str = "mtcnn"
    min_face_size: int | None = None
    min_face_frac: float = 0.125
    small_face_frac: float | None = 0.05
    small_face_every: int = 8
    factor: float = 0.6
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    min_confidence: float = 0.9
    keep_confidence: float | None = 0.7
    every_n: int = 3
    steady_every: int | None = None
    steady_iou: float = 0.8
    max_faces: int = 20
    max_side: int = 960
    full_every: int = 4
    roi_margin: float = 0.5
    batch_regions: bool = True
    channels_last: bool = True

    def steady_gap(self) -> int:
        """Frames between detector runs while every tracked face is steady."""
        return max(self.every_n, self.steady_every or 0)

    def min_face_for(self, height: int, width: int) -> int:
        """The minimum face side (px) to search for in an image of this size."""
        if self.min_face_size is not None:
            return self.min_face_size
        return max(20, int(round(self.min_face_frac * min(height, width))))

    def small_face_for(self, height: int, width: int) -> int | None:
        """The minimum face side (px) of the second whole-frame run, when the first finds no face
        (None: no second run)."""
        if self.min_face_size is not None or self.small_face_frac is None or self.kind != "mtcnn":
            return None
        small = max(12, int(round(self.small_face_frac * min(height, width))))
        return small if small < self.min_face_for(height, width) else None

    def __post_init__(self) -> None:
        check_field_types(self)
        _check(isinstance(self.kind, str) and bool(self.kind), f"invalid detector {self.kind!r}: use mtcnn or haar")
        _check(self.min_face_size is None or (isinstance(self.min_face_size, int) and self.min_face_size >= 12),
               f"--min-face (min_face_size) must be an integer >= 12 (or None: relative to the frame), got {self.min_face_size!r}")
        _check(0.01 <= self.min_face_frac <= 0.9, f"min_face_frac must be in [0.01, 0.9], got {self.min_face_frac!r}")
        _check(isinstance(self.small_face_every, int) and self.small_face_every >= 1,
               f"small_face_every must be an integer >= 1, got {self.small_face_every!r}")
        _check(self.small_face_frac is None or 0.01 <= self.small_face_frac <= self.min_face_frac,
               f"small_face_frac must be None or in [0.01, min_face_frac={self.min_face_frac!r}], got {self.small_face_frac!r}")
        _check(0.1 <= self.factor < 1.0, f"factor must be in [0.1, 1), got {self.factor!r}")
        _check(len(self.thresholds) == 3 and all(0.0 < t < 1.0 for t in self.thresholds),
               f"thresholds must be three values in (0, 1), got {self.thresholds!r}")
        _check(0.0 <= self.min_confidence <= 1.0, f"min_confidence must be in [0, 1], got {self.min_confidence!r}")
        _check(self.keep_confidence is None or 0.0 <= self.keep_confidence <= 1.0,
               f"keep_confidence must be None or in [0, 1], got {self.keep_confidence!r}")
        _check(isinstance(self.every_n, int) and self.every_n >= 1, f"--detect-every (every_n) must be an integer >= 1, got {self.every_n!r}")
        _check(self.steady_every is None or (isinstance(self.steady_every, int) and self.steady_every >= 1),
               f"--steady-detect-every (steady_every) must be an integer >= 1 (or None: a fixed cadence), got {self.steady_every!r}")
        _check(0.0 < self.steady_iou <= 1.0, f"steady_iou must be in (0, 1], got {self.steady_iou!r}")
        _check(isinstance(self.max_faces, int) and self.max_faces >= 1, f"--max-faces (max_faces) must be an integer >= 1, got {self.max_faces!r}")
        _check(isinstance(self.max_side, int) and self.max_side >= 64, f"max_side must be an integer >= 64, got {self.max_side!r}")
        _check(isinstance(self.full_every, int) and self.full_every >= 1, f"--full-detect-every (full_every) must be an integer >= 1 (1 = always the whole frame), got {self.full_every!r}")
        _check(0.1 <= self.roi_margin <= 3.0, f"roi_margin must be in [0.1, 3], got {self.roi_margin!r}")
        _check(isinstance(self.batch_regions, bool), f"batch_regions must be true or false, got {self.batch_regions!r}")
        _check(isinstance(self.channels_last, bool), f"channels_last must be true or false, got {self.channels_last!r}")


@dataclass(frozen=True)
class TrackerConfig:
    """Tracker settings: a detection joins a track when IoU >= ``iou_threshold``; a track
    missing for more than ``max_missed`` detector runs is evicted with its buffer.

    ``restart_distance``: a track's window starts again (the face is ``pending`` until it has 5
    crops of its own) when the embedding of its new crop lies further than this cosine distance
    from the previous crop's — another face took its place (a printed photo raised where a live
    face was), or a hand covers it — so such a window is not scored. The tracker follows boxes
    only; this is the check of what is inside them. It catches most prints swapped in for a live
    face, few live people swapped for another (README, Limits: the measured rates). ``None``
    turns it off. 0.10 is set on the bundled weights' embeddings."""

    iou_threshold: float = 0.3
    max_missed: int = 2
    restart_distance: float | None = 0.10

    def __post_init__(self) -> None:
        check_field_types(self)
        _check(0.0 < self.iou_threshold < 1.0, f"iou_threshold must be in (0, 1), got {self.iou_threshold!r}")
        _check(isinstance(self.max_missed, int) and self.max_missed >= 0,
               f"max_missed must be an integer >= 0, got {self.max_missed!r}")
        _check(self.restart_distance is None or 0.0 < self.restart_distance <= 2.0,
               f"--restart-distance (restart_distance) must be a cosine distance in (0, 2] ('off' / None: never), "
               f"got {self.restart_distance!r}")


#: the longest open / read timeout of a live source (a day): socket and FFmpeg timeouts are finite
MAX_TIMEOUT_S = 86400.0


@dataclass(frozen=True)
class StreamConfig:
    """Live-source behaviour: open timeout, reconnect backoff and when to give up."""

    open_timeout_s: float = 10.0
    read_timeout_s: float = 3.0
    reconnect: bool = True
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 5.0
    give_up_s: float = 30.0

    def __post_init__(self) -> None:
        check_field_types(self)
        for name in ("open_timeout_s", "read_timeout_s"):  # a socket timeout: finite (inf overflowed, late)
            value = getattr(self, name)
            _check(0 < value <= MAX_TIMEOUT_S, f"{name} must be > 0 and at most {MAX_TIMEOUT_S:g} seconds, got {value!r}")
        _check(0 < self.backoff_initial_s <= self.backoff_max_s,
               f"need 0 < backoff_initial_s <= backoff_max_s, got {self.backoff_initial_s!r}, {self.backoff_max_s!r}")
        _check(self.give_up_s >= 0, f"--give-up (give_up_s) must be >= 0 seconds (inf: never give up), got {self.give_up_s!r}")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything :class:`rtliveness.runtime.pipeline.LivenessPipeline` needs.

    ``weights=None`` means the bundled default weights. ``threshold=None`` means the calibrated
    threshold stored in the checkpoint, or the one of the named ``security`` level stored there
    (``convenience``, ``balanced``, ``strict``); an explicit ``threshold`` wins over ``security``.
    ``backend="auto"`` uses ONNX Runtime on the CPU when the ``[onnx]`` extra is installed, else
    PyTorch; other names come from the backend registry (:mod:`rtliveness.model.backends`).

    ``cpu_threads``: on the CPU, ``from_config`` calls ``torch.set_num_threads(cpu_threads)``
    (process-wide: PyTorch has no per-model setting). One intra-op thread leaves the other core to
    the decode thread; with two, OpenMP spin-waiting next to the decoder made MTCNN ~40x slower on
    a 2-core machine; the pipeline's ``step`` puts the count back in its thread whenever it finds
    another one there. ``0`` leaves PyTorch's setting alone (for hosts that manage it).

    ``low_light_target``: a face crop (the whole crop, background included) whose mean grey level
    is under this fraction of full scale is brightened up to it, at most ``LOW_LIGHT_MAX_GAIN``
    times, before it is scored (:mod:`rtliveness.runtime.exposure`); ``0`` (the default) turns
    it off.
    """

    weights: Path | None = None
    device: str = "auto"
    threshold: float | None = None
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    backend: str = "auto"
    verify_checksum: bool = True
    cpu_threads: int = 1
    security: str | None = None
    low_light_target: float = LOW_LIGHT_TARGET

    def __post_init__(self) -> None:
        check_field_types(self)
        _check(isinstance(self.detector, DetectorConfig),
               f"detector must be a DetectorConfig, e.g. DetectorConfig(kind='haar'), got {self.detector!r}")
        _check(isinstance(self.tracker, TrackerConfig),
               f"tracker must be a TrackerConfig, e.g. TrackerConfig(), got {self.tracker!r}")
        parse_device(self.device)
        object.__setattr__(self, "low_light_target", check_low_light_target(self.low_light_target))
        if self.threshold is not None:
            check_threshold(self.threshold)
        _check(isinstance(self.backend, str) and bool(self.backend), f"invalid backend {self.backend!r}: use auto, torch or onnx")
        _check(self.security is None or (isinstance(self.security, str) and bool(self.security)),
               f"invalid security level {self.security!r}: use convenience, balanced or strict")
        _check(isinstance(self.cpu_threads, int) and self.cpu_threads >= 0,
               f"--threads (cpu_threads) must be an integer >= 0 (0 = leave torch's setting alone), got {self.cpu_threads!r}")
        if self.weights is not None:
            object.__setattr__(self, "weights", Path(self.weights))
