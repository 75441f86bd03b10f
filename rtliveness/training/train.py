"""Training with the origin recipe: SGD (lr 1e-3, weight decay 1e-7), BCEWithLogitsLoss, batch 64,
5 epochs, Resize + RandomHorizontalFlip, ImageNet mean/std — every value overridable.

A run folder holds ``split.json`` (person-disjoint splits), ``last.pt`` (full training state,
written atomically after every epoch and on Ctrl+C), ``model.pt`` (the best dev-epoch model with
its preprocessing and the threshold calibrated on the dev split), and ``history.json``.
``resume=True`` continues from ``last.pt`` — mid-epoch included — and gives the same result as
an uninterrupted run on the CPU.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, TextIO

import numpy as np
import torch
from torch import nn

from ..config import check_calibration
from ..errors import ConfigError, DataError, WeightsError
from ..model.backends import preprocess_crops
from ..model.checkpoint import IMAGENET_MEAN, IMAGENET_STD, ModelMeta, atomic_torch_save, save_checkpoint
from ..model.device import resolve_device
from ..model.spoofmodel import EMBED_DIM, WINDOW, SpoofModel
from ..runtime.progress import Progress
from .attacks import CLASSES
from .balance import BALANCE_MODES, family_weights
from .data import Dataset, load_windows, read_split_file, scan_dataset, split_samples

__all__ = ["TrainConfig", "TrainResult", "train", "predict_windows", "load_pretrained_encoder"]


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
    person_pattern: str | None = r"^[^_]+_([^_]+)_"
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
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch size must be >= 1")
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

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ("pretrained", "init_weights", "teacher", "split_file"):
            d[k] = None if d[k] is None else str(d[k])
        return d


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    model_path: Path
    history: list[dict]
    threshold: float
    interrupted: bool = False


def load_pretrained_encoder(model: SpoofModel, path: Path) -> None:
    """Load torchvision-format resnet18 ImageNet weights (``fc.*`` ignored) into the encoder."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise WeightsError(f"pretrained weights not found: {path}") from exc
    except Exception as exc:
        raise WeightsError(f"cannot read pretrained weights {path}: not a PyTorch state dict, or the file is "
                           "truncated") from exc
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise WeightsError(f"{path} is not a torchvision resnet18 state dict (it holds a {type(sd).__name__})")
    sd = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    try:
        missing, unexpected = model.encoder.load_state_dict(sd, strict=False)
    except RuntimeError as exc:
        raise WeightsError(f"{path} is not a torchvision resnet18 state dict (tensor shapes differ)") from exc
    if missing or unexpected:
        raise WeightsError(f"{path} is not a torchvision resnet18 state dict ({len(missing)} missing, {len(unexpected)} unexpected keys)")


#: named operating points calibrated on the dev split and stored with the weights
SECURITY_LEVELS: tuple[tuple[str, str, float | None], ...] = (
    ("convenience", "eer", None),  # APCER = BPCER on dev
    ("balanced", "apcer", 0.05),  # lowest BPCER with worst-case APCER <= 5 %
    ("strict", "apcer", 0.01),  # lowest BPCER with worst-case APCER <= 1 %
)


def security_levels(scores: np.ndarray, classes: list[str]) -> tuple[tuple[str, float], ...]:
    """Thresholds of :data:`SECURITY_LEVELS` calibrated on labelled dev scores."""
    return tuple((name, _calibrate(scores, classes, method, target)) for name, method, target in SECURITY_LEVELS)


def load_init_weights(model: SpoofModel, path: Path) -> ModelMeta:
    """Start from a SpoofModel checkpoint (ours or an origin one); returns its preprocessing."""
    from ..model.checkpoint import load_checkpoint

    loaded = load_checkpoint(Path(path))
    model.load_state_dict(loaded.model.state_dict())
    return loaded.meta


def still_windows(windows: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """``share`` of the windows (B, T, ...) made static: every crop replaced by one of them (drawn
    at random), what the deployed loop's window holds for a photo (``rtliveness run photo.jpg``).
    The draw never looks at a label. Returns a new array; the input is not changed."""
    pick = rng.random(len(windows)) < share
    which = rng.integers(windows.shape[1], size=len(windows))
    out = windows.copy()
    out[pick] = windows[pick, which[pick]][:, None]
    return out


def gray_windows(windows: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """``share`` of the BGR windows (B, T, H, W, 3) turned grey — every crop of a picked window,
    the grey level in all three channels — as an infrared or night-mode camera delivers a face.
    The draw never looks at a label. Returns a new array; the input is not changed."""
    from .degrade import to_gray

    pick = rng.random(len(windows)) < share
    out = windows.copy()
    for i in np.flatnonzero(pick):
        for t in range(windows.shape[1]):
            out[i, t] = to_gray(windows[i, t])
    return out


def _jitter(windows_bgr: np.ndarray, params: np.ndarray, crop_params: np.ndarray | None = None) -> np.ndarray:
    """Framing and photometric jitter of whole windows, optionally with a per-crop framing wobble.

    ``params`` rows: (zoom in [0.85, 1], shift x, shift y in [-1, 1], brightness, contrast), the same
    for all 5 crops of a window. ``crop_params`` (B, 5, 3): per-crop (zoom change, shift x, shift y)
    as fractions of the crop side, added to the window's framing. A zoom change can only narrow the
    view (nothing wider than the stored crop exists, so a zoom-out draw leaves the zoom as it is);
    a shift may pull a few reflected border pixels in at the edge."""
    import cv2

    out = np.empty_like(windows_bgr)
    s = windows_bgr.shape[2]
    for i, (zoom, sx, sy, bright, contrast) in enumerate(params):
        for j in range(windows_bgr.shape[1]):
            z, dx, dy = (zoom, 0.0, 0.0) if crop_params is None else (
                min(1.0, zoom * (1.0 + crop_params[i, j, 0])), crop_params[i, j, 1] * s, crop_params[i, j, 2] * s)
            side = z * s
            free = s - side
            x0, y0 = free * (sx + 1) / 2 + dx, free * (sy + 1) / 2 + dy
            a = np.array([[s / side, 0, -x0 * s / side], [0, s / side, -y0 * s / side]], np.float32)
            img = cv2.warpAffine(windows_bgr[i, j], a, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            img = img.astype(np.float32) * contrast + (bright + (1 - contrast) * 128.0)
            out[i, j] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def crop_wobble(rng: np.random.Generator, n: int, window: int, amount: float) -> np.ndarray:
    """(n, window, 3) per-crop (zoom change, shift x, shift y), each uniform in [-amount, amount]."""
    return rng.uniform(-amount, amount, (n, window, 3))


def _to_tensor(windows_bgr: np.ndarray, meta: ModelMeta, flips: np.ndarray | None = None) -> torch.Tensor:
    """(B, 5, S, S, 3) uint8 BGR → (B, 5, 3, S, S) normalised float32 (optionally flipped)."""
    b, t, s = windows_bgr.shape[:3]
    arr = windows_bgr
    if flips is not None and flips.any():
        arr = arr.copy()
        arr[flips] = arr[flips][:, :, :, ::-1]  # the same flip for all 5 crops of a window
    x = preprocess_crops(list(arr.reshape(b * t, s, s, 3)), meta)
    return torch.from_numpy(x).view(b, t, 3, s, s)


@torch.inference_mode()
def predict_windows(model: SpoofModel, windows_bgr: np.ndarray, meta: ModelMeta, device: str,
                    batch_size: int = 32) -> np.ndarray:
    """p_spoof for each (5, S, S, 3) window."""
    model.eval()
    out = []
    for i in range(0, len(windows_bgr), batch_size):
        x = _to_tensor(windows_bgr[i:i + batch_size], meta).to(device)
        out.append(torch.sigmoid(model(x).float()).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def _metrics(scores: np.ndarray, classes: list[str], threshold: float) -> dict:
    from .metrics import evaluate_scores

    return evaluate_scores(scores, np.asarray(classes), threshold)


def _calibrate(scores: np.ndarray, classes: list[str], method: str, target: float | None) -> float:
    from .metrics import deployment_threshold

    return deployment_threshold(scores, np.asarray(classes), method=method, target=target)


def train(data_root: str | Path, run_dir: str | Path, config: TrainConfig | None = None, resume: bool = False,
          progress: TextIO | None = None, log: Callable[[str], None] | None = None,
          stop_after_steps: int | None = None, resume_epochs: int | None = None) -> TrainResult:
    """Train a SpoofModel on ``data_root`` into ``run_dir``. See the module docstring.

    ``stop_after_steps`` simulates an interruption after that many optimiser steps (for tests).
    A resumed run keeps the settings saved in ``last.pt`` (``config`` only gives the device);
    ``resume_epochs`` extends it to that many epochs.
    """
    config = config or TrainConfig()
    log = log or (lambda s: None)
    run_dir = Path(run_dir)
    if not resume and any((run_dir / n).exists() for n in ("model.pt", "last.pt")):
        raise ConfigError(f"{run_dir} already holds a training run (model.pt / last.pt); continue it with --resume, "
                          "or choose a new --out (nothing was changed)")
    run_dir.mkdir(parents=True, exist_ok=True)
    last_path = run_dir / "last.pt"
    state = None
    if resume:
        if not last_path.is_file():
            raise ConfigError(f"nothing to resume: {last_path} does not exist; start without --resume")
        state = torch.load(last_path, map_location="cpu", weights_only=True)
        saved = state["config"]
        saved["fractions"] = tuple(saved["fractions"])
        saved["exclude_classes"] = tuple(saved["exclude_classes"])
        saved["distill_classes"] = tuple(saved.get("distill_classes", TrainConfig.distill_classes))
        for k in ("init_weights", "teacher", "split_file"):
            saved[k] = None if saved.get(k) is None else Path(saved[k])
        # a resumed run keeps its own settings; only the device and a larger --epochs apply
        config = replace(TrainConfig(**{**saved, "pretrained": None}), device=config.device,
                         epochs=max(int(saved["epochs"]), resume_epochs or 0))
        log(f"resuming from {last_path} at epoch {state['epoch'] + 1}, step {state['step_in_epoch']}")
    device = resolve_device(config.device)

    ds: Dataset = scan_dataset(data_root, skip_bad=config.skip_bad, person_pattern=config.person_pattern)
    if ds.skipped:
        log(f"skipped {len(ds.skipped)} malformed samples (--skip-bad)")
    crop_scale = config.crop_scale if config.crop_scale is not None else (ds.crop_scale or 1.0)
    if ds.crop_scale is not None and crop_scale > ds.crop_scale + 1e-6:
        raise ConfigError(f"crop scale {crop_scale} is wider than the dataset's stored crops ({ds.crop_scale})")
    split_path = run_dir / "split.json"
    if config.split_file is not None and not (resume and split_path.is_file()):
        read_split_file(Path(config.split_file))  # checked before it is copied into the run
        split_path.write_text(Path(config.split_file).read_text())
    if split_path.is_file() and (resume or config.split_file is not None):
        names = read_split_file(split_path)
        by_name = {s.name: s for s in ds.samples}
        try:
            splits = {k: [by_name[n] for n in v] for k, v in names.items() if k in ("train", "dev", "test")}
        except KeyError as exc:
            raise DataError(f"sample {exc} of {split_path} is missing from {data_root}; the dataset changed since the run started") from exc
    else:
        splits = split_samples(ds.samples, config.fractions, seed=config.seed)
        split_path.write_text(json.dumps({k: [s.name for s in v] for k, v in splits.items()}, indent=1))
    train_s = [s for s in splits["train"] if s.class_name not in config.exclude_classes]
    dev_s = [s for s in splits["dev"] if s.class_name not in config.exclude_classes]
    if not train_s or len({s.label for s in train_s}) < 2:
        raise DataError(f"the training split of {data_root} needs both real and attack samples (has {len(train_s)} samples)")
    if not dev_s or len({s.label for s in dev_s}) < 2:
        raise DataError(f"the dev split of {data_root} needs both real and attack samples; add more identities")

    meta = ModelMeta(input_size=config.input_size, mean=IMAGENET_MEAN, std=IMAGENET_STD, window=WINDOW, threshold=0.5,
                     crop_scale=float(crop_scale), class_names=CLASSES)
    if config.init_weights is not None:
        init_meta = load_init_weights(SpoofModel(), Path(config.init_weights))  # fail early on a bad file
        if (init_meta.mean, init_meta.std, init_meta.color_order) != (meta.mean, meta.std, "RGB"):
            meta = replace(meta, mean=init_meta.mean, std=init_meta.std, color_order=init_meta.color_order)
    log(f"{len(train_s)} train / {len(dev_s)} dev / {len(splits['test'])} test samples "
        f"({len({s.person for s in ds.samples})} identities), crop scale {crop_scale}, input {config.input_size} px, device {device}")
    bar = Progress(progress)
    Xtr = load_windows(train_s, config.input_size, crop_scale, ds.crop_scale,
                       progress=lambda i, n: bar.status(f"loading train {i}/{n}"))
    Xdev = load_windows(dev_s, config.input_size, crop_scale, ds.crop_scale,
                        progress=lambda i, n: bar.status(f"loading dev {i}/{n}"))
    ytr = np.array([s.label for s in train_s], np.float32)
    live_tr = ytr == 0  # bona fide windows by their label (targets may be soft after distillation)
    if config.teacher is not None and state is None:
        from .distill import mix_targets, soft_targets

        t_scores = soft_targets(config.teacher, train_s, ds.crop_scale or crop_scale, run_dir / "teacher_scores.json",
                                progress=lambda i, n: bar.status(f"teacher {i}/{n}"))
        use = np.array([s.class_name in config.distill_classes for s in train_s])
        ytr, blended = mix_targets(ytr, t_scores, use, config.distill_weight, config.distill_agree)
        np.save(run_dir / "targets.npy", ytr)
        log(f"teacher {config.teacher}: soft targets on {int(blended.sum())} of {len(train_s)} train samples "
            f"(weight {config.distill_weight}, classes {', '.join(config.distill_classes)}"
            f"{', only where it agrees with the label' if config.distill_agree else ''})")
    elif config.teacher is not None:
        ytr = np.load(run_dir / "targets.npy")
    tfeat = None
    if config.distill_features > 0:  # cached in the run folder: a resumed run reads it back
        from .distill import teacher_features

        tfeat = teacher_features(config.teacher, train_s, ds.crop_scale or crop_scale, run_dir / "teacher_features.npz",
                                 progress=lambda i, n: bar.status(f"teacher features {i}/{n}"))

    torch.manual_seed(config.seed)
    model = SpoofModel().to(device)
    if state is None:
        if config.init_weights is not None:
            load_init_weights(model, Path(config.init_weights))
            log(f"fine-tuning from {config.init_weights}")
        elif config.pretrained is not None:
            load_pretrained_encoder(model, Path(config.pretrained))
            log(f"encoder initialised from {config.pretrained}")
        else:
            log("no --pretrained weights: the encoder starts from scratch (nothing is downloaded)")
    anchor = None
    if config.anchor_live > 0:  # the starting model, frozen: the live side's reference (training only)
        anchor = SpoofModel().to(device)
        load_init_weights(anchor, Path(config.init_weights))
        anchor.requires_grad_(False).train()
        # the same mode as the model it anchors: batch-norm on the batch's statistics (as the
        # training model's are), its running statistics left as loaded (momentum 0); a frozen
        # encoder runs on its running statistics in both
        for m in anchor.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.momentum = 0.0
        if config.encoder_lr_mult == 0:
            anchor.encoder.eval()
        log(f"live windows anchored to {config.init_weights} (weight {config.anchor_live:g}; training only"
            + ("; the reference on each window before its degradations)" if config.anchor_clean else ")"))
    pixel = None
    if config.pixel_aux > 0:  # training-only head, outside the model: the checkpoint keeps the origin's names
        from .pixel_aux import STAGE, PixelSupervision

        pixel = PixelSupervision(model.encoder, meta.window).to(device)
        if state is not None:
            pixel.load_state_dict(state["pixel_head"])
        log(f"pixel-wise supervision on encoder.{STAGE} (weight {config.pixel_aux:g}; training only)")
    hint = None
    if tfeat is not None:  # training-only map, outside the model, like the pixel head
        from .feature_hint import FeatureHint

        hint = FeatureHint(model.encoder, meta.window, EMBED_DIM, tfeat.shape[-1]).to(device)
        if state is not None:
            hint.load_state_dict(state["hint_head"])
        log(f"feature distillation: the encoder's crop embeddings predict the teacher's {tfeat.shape[-1]}-d ones "
            f"(weight {config.distill_features:g}; training only)")
    groups = [{"params": [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
               + ([] if pixel is None else list(pixel.parameters()))
               + ([] if hint is None else list(hint.parameters())), "lr_mult": 1.0}]
    if config.encoder_lr_mult > 0:
        groups.append({"params": list(model.encoder.parameters()), "lr_mult": config.encoder_lr_mult})
    else:
        model.encoder.requires_grad_(False)
    for g in groups:
        g["lr"] = config.lr * g["lr_mult"]
    opt = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    bce = nn.BCEWithLogitsLoss(reduction="none")
    if config.balance == "families":
        wtr = family_weights([s.class_name for s in train_s])
        log("loss weights balanced: bona fide and attacks half each, every attack family an equal part ("
            + ", ".join(f"{c} {w:.2f}" for c, w in sorted({s.class_name: float(x) for s, x in zip(train_s, wtr)}.items())) + ")")
    else:
        wtr = np.ones(len(train_s), np.float32)

    def loss_fn(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return (bce(logits, target) * weight).mean()
    use_amp = config.amp and device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    history: list[dict] = []
    start_epoch, start_step, best = 0, 0, {"acer": math.inf, "epoch": -1}
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if "scaler" in state and use_amp:
            scaler.load_state_dict(state["scaler"])
        start_epoch, start_step = int(state["epoch"]), int(state["step_in_epoch"])
        history = json.loads(state["history"])
        best = json.loads(state["best"])

    running_loss = [None if state is None else state.get("running_loss")]

    def save_state(epoch: int, step: int) -> None:
        atomic_torch_save({
            "model": model.state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
            "epoch": epoch, "step_in_epoch": step, "running_loss": running_loss[0], "config": config.to_json() | {"fractions": list(config.fractions),
                                                                              "exclude_classes": list(config.exclude_classes)},
            "history": json.dumps(history), "best": json.dumps(best), "meta": meta.to_dict(),
        } | ({} if pixel is None else {"pixel_head": pixel.state_dict()})
          | ({} if hint is None else {"hint_head": hint.state_dict()}), last_path)

    mixer = None
    if config.mixstyle > 0:
        from .mixstyle import STAGES, MixStyle

        mixer = MixStyle(model.encoder, config.mixstyle, meta.window)
        log(f"MixStyle after encoder.{', encoder.'.join(STAGES)} (p {config.mixstyle}; training only)")
    if config.degrade > 0:
        from .degrade import KINDS, apply_batch

        log(f"camera degradations ({', '.join(KINDS)}) on {config.degrade:.0%} of windows, every class alike")
    if config.still > 0:
        log(f"{config.still:.0%} of windows made static (one of their crops five times, as a photo), every class alike")
    if config.gray > 0:
        log(f"{config.gray:.0%} of windows turned grey (as an infrared camera sees them), every class alike")
    if config.crop_jitter > 0:
        log(f"each crop of a window moved and zoomed on its own by up to {config.crop_jitter:.0%} of its side"
            + (f"; two views per window, logit consistency weight {config.consistency:g}" if config.consistency > 0 else ""))
    n = len(train_s)
    steps_per_epoch = math.ceil(n / config.batch_size)
    interrupted = False
    steps_done = 0
    pos = [start_epoch, start_step]  # (epoch, next step) after the last completed optimiser step
    # batch-norm statistics as of that step: a Ctrl+C during a step's forward pass has already
    # moved them, and the resumed run redoes the step (so they are put back before saving)
    settled = [b.detach().clone() for b in model.buffers()]
    try:
        for epoch in range(start_epoch, config.epochs):
            # the epoch's order and flips depend only on (seed, epoch): resume is exact
            g = np.random.default_rng([config.seed, epoch])
            order = g.permutation(n)
            flips = g.random(n) < config.hflip
            jitter = np.stack([g.uniform(0.85, 1.0, n), g.uniform(-1, 1, n), g.uniform(-1, 1, n),
                               g.uniform(-20, 20, n), g.uniform(0.85, 1.15, n)], axis=1)
            model.train()
            if config.encoder_lr_mult == 0:
                model.encoder.eval()  # a frozen encoder keeps its batch-norm statistics too
            t0 = time.perf_counter()
            running = running_loss[0] if (state is not None and epoch == start_epoch) else None
            for step in range(start_step if epoch == start_epoch else 0, steps_per_epoch):
                idx = order[step * config.batch_size:(step + 1) * config.batch_size]
                if config.schedule == "cosine":
                    t = (epoch * steps_per_epoch + step) / max(1, config.epochs * steps_per_epoch)
                    for group in opt.param_groups:
                        group["lr"] = config.lr * group["lr_mult"] * 0.5 * (1.0 + math.cos(math.pi * t))
                views = 2 if config.consistency > 0 else 1
                if config.augment == "origin":
                    xb = Xtr[idx]
                elif config.crop_jitter > 0:  # drawn from (seed, epoch, step): resumable
                    wob = np.random.default_rng([config.seed, epoch, step, 3])
                    xb = np.concatenate([_jitter(Xtr[idx], jitter[idx], crop_wobble(wob, len(idx), Xtr.shape[1], config.crop_jitter))
                                         for _ in range(views)])
                else:
                    xb = _jitter(Xtr[idx], jitter[idx])
                clean = xb if config.anchor_clean else None  # the anchor's input: before the degradations
                if config.degrade > 0:  # drawn from (seed, epoch, step), never from the labels: resumable, label-neutral;
                    # both views of a window get the same degradation (and MixStyle draw), so they differ only by the crop wobble
                    xb = np.concatenate([apply_batch(part, config.degrade, np.random.default_rng([config.seed, epoch, step, 2]))[0]
                                         for part in np.split(xb, views)])
                if config.still > 0:  # drawn from (seed, epoch, step), never from the labels: resumable, label-neutral;
                    # both views of a window get the same draw (static or not, the same crop), as with degrade
                    xb = np.concatenate([still_windows(part, config.still, np.random.default_rng([config.seed, epoch, step, 4]))
                                         for part in np.split(xb, views)])
                if config.gray > 0:  # drawn from (seed, epoch, step), never from the labels: resumable, label-neutral
                    xb = np.concatenate([gray_windows(part, config.gray, np.random.default_rng([config.seed, epoch, step, 5]))
                                         for part in np.split(xb, views)])
                x = _to_tensor(xb, meta, np.tile(flips[idx], views)).to(device)
                y = torch.from_numpy(ytr[idx]).to(device)
                w = torch.from_numpy(wtr[idx]).to(device)
                if mixer is not None:  # drawn from (seed, epoch, step): a resumed run mixes the same way
                    mixer.draw(np.random.default_rng([config.seed, epoch, step, 1]), len(idx), views)
                opt.zero_grad(set_to_none=True)
                with torch.autocast("cuda", enabled=use_amp):
                    logits = model(x).float()
                    if views == 1:
                        loss = loss_fn(logits, y, w)
                    else:  # both views learn the target; their logits are pulled together
                        a, b = logits.chunk(2)
                        loss = 0.5 * (loss_fn(a, y, w) + loss_fn(b, y, w)) + config.consistency * (a - b).pow(2).mean()
                    if pixel is not None:  # every crop of every view, against its window's target
                        loss = loss + config.pixel_aux * pixel.loss(y.repeat(views), w.repeat(views))
                    if anchor is not None:  # learning without forgetting, bona fide windows only; every view
                        ref_x = x if clean is None else _to_tensor(clean, meta, np.tile(flips[idx], views)).to(device)
                        loss = loss + config.anchor_live * anchor_loss(logits, anchor, ref_x, torch.from_numpy(live_tr[idx]).to(device).repeat(views))
                    if hint is not None:  # every crop of every view, against the teacher's embedding of that stored crop
                        loss = loss + config.distill_features * hint.loss(torch.from_numpy(tfeat[idx]).to(device).repeat(views, 1, 1))
                if not torch.isfinite(loss):
                    raise DataError(f"training diverged (loss {loss.item()}) at epoch {epoch + 1} step {step}; lower --lr")
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                lv = float(loss.item())
                running = lv if running is None else 0.9 * running + 0.1 * lv
                running_loss[0] = running
                bar.status(f"epoch {epoch + 1}/{config.epochs} step {step + 1}/{steps_per_epoch} loss {running:.4f} "
                    f"({(step + 1 - (start_step if epoch == start_epoch else 0)) / max(1e-9, time.perf_counter() - t0):.2f} it/s)")
                steps_done += 1
                pos[:] = [epoch, step + 1]
                for keep, b in zip(settled, model.buffers()):
                    keep.copy_(b)
                if stop_after_steps is not None and steps_done >= stop_after_steps:
                    raise KeyboardInterrupt
            bar.finish()
            dev_scores = predict_windows(model, Xdev, meta, device)
            dev_classes = [s.class_name for s in dev_s]
            thr = _calibrate(dev_scores, dev_classes, config.calibration, config.calibration_target)
            m = _metrics(dev_scores, dev_classes, thr)
            rec = {"epoch": epoch + 1, "train_loss": running, "seconds": round(time.perf_counter() - t0, 2),
                   "dev": {k: m[k] for k in ("acer", "apcer", "apcer_max", "bpcer", "eer", "auc", "f1_macro", "accuracy")},
                   "threshold": thr}
            history.append(rec)
            log(f"epoch {epoch + 1}: loss {'n/a' if running is None else f'{running:.4f}'}  dev ACER {_pct(m['acer'])}  EER {_pct(m['eer'])}  "
                f"AUC {m['auc'] if m['auc'] is None else round(m['auc'], 4)}  (threshold {thr:.3f})")
            # the --select figure, lower is better (stored under "acer", the key resumed runs read)
            figure = {"acer": m["acer"], "eer": m["eer"], "last": -float(epoch + 1)}[config.select]
            figure = math.inf if figure is None else figure
            if figure <= best["acer"]:
                best = {"acer": figure, "epoch": epoch + 1, "threshold": thr}
                levels = security_levels(dev_scores, dev_classes)
                save_checkpoint(run_dir / "model.pt", model, replace(meta, threshold=thr, security_levels=levels),
                                extra={"train": {"epoch": epoch + 1, "dev": rec["dev"], "config": config.to_json()}})
            running_loss[0] = None
            save_state(epoch + 1, 0)
            pos[:] = [epoch + 1, 0]
            (run_dir / "history.json").write_text(json.dumps(history, indent=1))
    except KeyboardInterrupt:
        interrupted = True
        bar.finish()
        with torch.no_grad():
            for keep, b in zip(settled, model.buffers()):
                b.copy_(keep)
        if pos[1] == steps_per_epoch and history and history[-1]["epoch"] == pos[0] + 1:
            history.pop()  # stopped between validation and the epoch's checkpoint: redo the validation
        save_state(*pos)
        log(f"interrupted: training state saved to {last_path}; continue with --resume")
    finally:
        if mixer is not None:
            mixer.remove()
        if pixel is not None:
            pixel.remove()
        if hint is not None:
            hint.remove()
    model_path = run_dir / "model.pt"
    thr = float(best.get("threshold", 0.5))  # the threshold stored with the best epoch's model.pt
    return TrainResult(run_dir, model_path, history, thr, interrupted)


def anchor_loss(logits: torch.Tensor, anchor: nn.Module, x: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``live * (logit - anchor logit)^2``: the bona fide windows' logits
    held near the frozen ``anchor``'s on the same input; attack windows add nothing."""
    with torch.no_grad():
        ref = anchor(x).float()
    return ((logits.float() - ref).pow(2) * live.float()).mean()


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"
