"""The settings of a training run (every value of the origin recipe overridable, each checked once)
and what a run returns."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..config import check_calibration
from ..errors import ConfigError
from .attacks import CLASSES
from .balance import BALANCE_MODES
from .data import DEFAULT_PERSON_PATTERN

__all__ = ["TrainConfig", "TrainResult", "PATH_FIELDS"]

#: the settings that are paths: the saved run config holds them absolute (a resume from another
#: folder finds them)
PATH_FIELDS = ("pretrained", "init_weights", "teacher", "split_file")

#: the command-line option of each float setting whose name is not the field's own, hyphenated
_OPTION = {"encoder_lr_mult": "--encoder-lr-mult", "calibration_target": "--target", "hflip": "hflip probability",
           "fractions": "split fractions"}


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 1e-7
    input_size: int = 224
    crop_scale: float | None = None  # None: the dataset's stored scale
    hflip: float = 0.5
    seed: int = 0
    device: str = "auto"
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    person_pattern: str | None = DEFAULT_PERSON_PATTERN
    calibration: str = "eer"  # eer | apcer | bpcer
    calibration_target: float | None = None
    skip_bad: bool = False
    exclude_classes: tuple[str, ...] = ()
    pretrained: Path | None = None
    amp: bool = True
    augment: str = "origin"  # origin: Resize + flip | strong: + framing jitter, brightness/contrast
    schedule: str = "constant"  # constant (origin) | cosine
    init_weights: Path | None = None  # fine-tune: start from this SpoofModel checkpoint (ours or the origin's)
    encoder_lr_mult: float = 1.0  # encoder learning rate = lr * this (0 freezes the encoder)
    teacher: Path | None = None  # a teacher folder (MiniFASNet): distil its soft targets
    distill_weight: float = 0.5  # soft target = (1 - w) * label + w * teacher p_spoof
    distill_classes: tuple[str, ...] = ("real", "printed", "replay")  # classes the teacher is trusted on
    distill_agree: bool = False  # blend the teacher in only where it is on the label's side (else the hard label)
    distill_features: float = 0.0  # weight of feature distillation: the encoder's crop embeddings must predict the teacher's (training only; 0 = off)
    anchor_live: float = 0.0  # weight of learning without forgetting on live windows: logits kept near the --init-weights model's (0 = off)
    anchor_clean: bool = False  # the anchor's reference on the window before --degrade's degradations (a degraded live window scores as its clean one did)
    split_file: Path | None = None  # use this split.json (train/dev/test sample names) instead of a new split
    select: str = "acer"  # which epoch becomes model.pt: acer | eer (lowest on dev) | last
    mixstyle: float = 0.0  # MixStyle after the encoder's first two stages, with this probability per batch (0 = off)
    degrade: float = 0.0  # label-neutral camera degradations (dim light, noise, blur, low resolution, JPEG, white balance, roll) per window with this probability
    crop_jitter: float = 0.0  # per-crop framing wobble inside a window (shift and zoom, fraction of the crop side), as tracker boxes move between frames
    still: float = 0.0  # this share of windows (every class alike) made static, one crop five times, as `run` sees a photo
    gray: float = 0.0  # this share of windows (every class alike) turned grey, as an infrared or night-mode camera sees a face
    consistency: float = 0.0  # weight of a term pulling together the logits of two crop-jittered views of each window (0 = off)
    balance: str = "none"  # none (origin) | families: bona fide and attacks half the loss each, every attack family an equal part of its half
    pixel_aux: float = 0.0  # weight of pixel-wise binary supervision on the encoder's layer3 map (training only; 0 = off)

    def __post_init__(self) -> None:
        for f in fields(self):  # inf or nan passes '> 0' or '>= 0' (--lr inf trained into NaN): each refused first
            value = getattr(self, f.name)
            for v in (value if isinstance(value, tuple) else (value,)):
                if isinstance(v, float) and not math.isfinite(v):
                    name = _OPTION.get(f.name, "--" + f.name.replace("_", "-"))
                    raise ConfigError(f"{name} must be a finite number, got {value}")
        if not 0.0 <= self.encoder_lr_mult <= 10.0:
            raise ConfigError(f"encoder learning-rate multiplier must be in [0, 10], got {self.encoder_lr_mult}")
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ConfigError(f"distill weight must be in [0, 1], got {self.distill_weight}")
        if self.distill_agree and self.teacher is None:
            raise ConfigError("distilling only where the teacher agrees needs a teacher: add --teacher DIR")
        if not 0.0 <= self.distill_features <= 10.0:
            raise ConfigError(f"feature distillation weight must be in [0, 10], got {self.distill_features}")
        if self.distill_features > 0 and self.teacher is None:
            raise ConfigError("feature distillation needs a teacher: add --teacher DIR")
        if not 0.0 <= self.anchor_live <= 100.0:
            raise ConfigError(f"live anchor weight must be in [0, 100], got {self.anchor_live}")
        if self.anchor_live > 0 and self.init_weights is None:
            raise ConfigError("--anchor-live keeps live windows near the starting model: it needs --init-weights CHECKPOINT")
        if self.anchor_clean and not (self.anchor_live > 0 and self.degrade > 0):
            raise ConfigError("--anchor-clean takes the live anchor on the window before --degrade's degradations: "
                              "it needs --anchor-live W and --degrade P")
        if self.distill_features > 0 and self.encoder_lr_mult == 0:
            raise ConfigError("feature distillation trains the encoder: it needs --encoder-lr-mult > 0")
        check_calibration(self.calibration, self.calibration_target)
        if self.epochs < 1:
            raise ConfigError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not (self.lr > 0 and self.weight_decay >= 0 and 0 <= self.momentum < 1):
            raise ConfigError(f"invalid optimiser settings lr={self.lr} momentum={self.momentum} wd={self.weight_decay}")
        if not 16 <= self.input_size <= 1024:
            raise ConfigError(f"input size must be in 16..1024, got {self.input_size}")
        if self.crop_scale is not None and not 0.5 <= self.crop_scale <= 4.0:
            raise ConfigError(f"crop scale must be in 0.5..4, got {self.crop_scale}")
        if not 0 <= self.hflip <= 1:
            raise ConfigError(f"hflip probability must be in [0, 1], got {self.hflip}")
        if self.augment not in ("origin", "strong"):
            raise ConfigError(f"augment must be origin or strong, got {self.augment!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ConfigError(f"schedule must be constant or cosine, got {self.schedule!r}")
        if not 0.0 <= self.mixstyle <= 1.0:
            raise ConfigError(f"MixStyle probability must be in [0, 1], got {self.mixstyle}")
        if self.mixstyle > 0 and self.encoder_lr_mult == 0:
            raise ConfigError("MixStyle perturbs the encoder's feature statistics so that the encoder learns past them: "
                              "with a frozen encoder (--encoder-lr-mult 0) it does nothing; drop --mixstyle or unfreeze")
        if not 0.0 <= self.degrade <= 1.0:
            raise ConfigError(f"degradation probability must be in [0, 1], got {self.degrade}")
        if not 0.0 <= self.still <= 1.0:
            raise ConfigError(f"still-window share must be in [0, 1], got {self.still}")
        if not 0.0 <= self.gray <= 1.0:
            raise ConfigError(f"grey-window share must be in [0, 1], got {self.gray}")
        if not 0.0 <= self.crop_jitter <= 0.1:
            raise ConfigError(f"crop jitter must be in [0, 0.1] (a fraction of the crop side), got {self.crop_jitter}")
        if self.crop_jitter > 0 and self.augment != "strong":
            raise ConfigError("crop jitter needs --augment strong")
        if not 0.0 <= self.consistency <= 100.0:
            raise ConfigError(f"consistency weight must be in [0, 100], got {self.consistency}")
        if self.consistency > 0 and self.crop_jitter == 0:
            raise ConfigError("a consistency weight needs crop jitter (--crop-jitter > 0): the two views would be identical")
        if not 0.0 <= self.pixel_aux <= 10.0:
            raise ConfigError(f"pixel supervision weight must be in [0, 10], got {self.pixel_aux}")
        if self.pixel_aux > 0 and self.encoder_lr_mult == 0:
            raise ConfigError("pixel supervision trains the encoder: it needs --encoder-lr-mult > 0")
        if self.balance not in BALANCE_MODES:
            raise ConfigError(f"balance must be {' or '.join(BALANCE_MODES)}, got {self.balance!r}")
        if self.select not in ("acer", "eer", "last"):
            raise ConfigError(f"select must be acer, eer or last, got {self.select!r}")
        unknown = set(self.exclude_classes) - set(CLASSES)
        if unknown or "real" in self.exclude_classes:
            raise ConfigError(f"can only exclude attack classes ({', '.join(CLASSES[1:])}), got {sorted(self.exclude_classes)}")

    def to_json(self, absolute: bool = True) -> dict:
        """The settings as JSON values. ``absolute``: paths made absolute, for the run's own state
        (a run resumed from another folder still finds them); False: as given, for a model file
        that may be shared (no user's home folder in it)."""
        d = asdict(self)
        for k in PATH_FIELDS:
            d[k] = None if d[k] is None else (os.path.abspath(d[k]) if absolute else str(d[k]))
        return d


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    model_path: Path
    history: list[dict]
    threshold: float
    interrupted: bool = False
