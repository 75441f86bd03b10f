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
from dataclasses import replace
from pathlib import Path
from typing import Callable, TextIO

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, DataError, WeightsError
from ..model.checkpoint import IMAGENET_MEAN, IMAGENET_STD, ModelMeta, atomic_torch_save, save_checkpoint
from ..model.device import resolve_device
from ..model.spoofmodel import EMBED_DIM, WINDOW, SpoofModel
from ..runtime.progress import Progress
from ..runtime.stopsignals import interrupts_held
from .attacks import CLASSES
from .augment import crop_wobble, gray_windows, jitter_windows, still_windows
from .balance import family_weights
from .data import (DATA_META, Dataset, compile_person_pattern, load_windows, read_split_file, scan_dataset, split_samples,
                   wider_than_stored)
from .files import atomic_write_text
from .metrics_thresholds import deployment_threshold, security_levels
from .predict import predict_windows, to_tensor
from .start import anchor_loss, frozen_anchor, load_init_weights, load_pretrained_encoder
from .train_config import TrainConfig, TrainResult

__all__ = ["TrainConfig", "TrainResult", "train", "predict_windows", "load_pretrained_encoder"]


def _metrics(scores: np.ndarray, classes: list[str], threshold: float) -> dict:
    from .metrics import evaluate_scores

    return evaluate_scores(scores, np.asarray(classes), threshold)


def _splits_from_file(path: Path, ds: Dataset, data_root, resumed: bool, log: Callable[[str], None]) -> dict:
    """The train / dev / test samples a split file names: it needs ``train`` and ``dev`` (``test``
    may be left out: empty) and every name in the dataset (:func:`read_split_file` refuses a
    sample named twice); people in more than one split are named in a note (the split is then
    not person-disjoint)."""
    names = read_split_file(path)
    lacking = [k for k in ("train", "dev") if k not in names]
    if lacking:
        raise DataError(f"split file {path} has no {' or '.join(repr(k) for k in lacking)} list (it has "
                        f"{', '.join(sorted(names)) or 'none'}); train needs train and dev (test may be left out)")
    listed = [n for k in ("train", "dev", "test") for n in names.get(k, [])]  # each once (read_split_file)
    by_name = {s.name: s for s in ds.samples}
    bad = set(ds.skipped)  # malformed, left out by --skip-bad: not missing
    missing = [n for n in listed if n not in by_name and n not in bad]
    if missing:
        why = ("the dataset changed since the run started" if resumed
               else "give the dataset the split was made for")
        raise DataError(f"{len(missing)} sample{'s' if len(missing) != 1 else ''} of {path} "
                        f"{'are' if len(missing) != 1 else 'is'} missing from {data_root} (first: {missing[0]}); {why}")
    splits = {k: [by_name[n] for n in names.get(k, []) if n in by_name] for k in ("train", "dev", "test")}
    where: dict[str, set] = {}
    for k, v in splits.items():
        for smp in v:
            where.setdefault(smp.person, set()).add(k)
    shared = sorted(p for p, ks in where.items() if len(ks) > 1)
    if shared:
        log(f"note: {len(shared)} {'people are' if len(shared) != 1 else 'person is'} in more than one split of {path} "
            f"({', '.join(shared[:5])}{'…' if len(shared) > 5 else ''}): the split is not person-disjoint, so dev "
            "and test figures flatter the model")
    return splits


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
        if int(state["epoch"]) >= config.epochs:  # nothing left: say so, rather than 'resuming at epoch N + 1' of N
            done = int(state["epoch"])
            log(f"{run_dir} has finished its {done} epoch{'s' if done != 1 else ''}: nothing to resume (to train on, "
                f"give --resume --epochs N with N > {done})")
            return TrainResult(run_dir, run_dir / "model.pt", json.loads(state["history"]),
                               float(json.loads(state["best"]).get("threshold", 0.5)))
        if config.anchor_live > 0 and config.init_weights is not None and not Path(config.init_weights).exists():
            raise WeightsError(f"cannot resume {run_dir}: its live anchor (--anchor-live {config.anchor_live:g}) needs the "
                               f"starting model it was given, {config.init_weights}, which is not there; put that file "
                               "back at that path to go on")
        log(f"resuming from {last_path} at epoch {state['epoch'] + 1}, step {state['step_in_epoch']}, with the run's "
            "own settings (only --device and a larger --epochs apply; other options given now are not used)")
    device = resolve_device(config.device)
    # the starting weights are read once, here, before any sample loads (a bad file fails first)
    start, init_meta, pretrained = None, None, None
    # its preprocessing is the run's; a resumed run's model and preprocessing come from last.pt, so
    # it reads the starting weights only when the live anchor needs them as its reference
    if config.init_weights is not None and (state is None or config.anchor_live > 0):
        start = SpoofModel()
        init_meta = load_init_weights(start, Path(config.init_weights))
    if state is None:  # a fresh run's teacher loads before any sample does too
        if config.pretrained is not None:
            pretrained = SpoofModel()
            load_pretrained_encoder(pretrained, Path(config.pretrained))
        if config.teacher is not None:
            from .teachers.minifasnet import MiniFasTeacher

            MiniFasTeacher.from_dir(config.teacher, detector=False)

    ds: Dataset = scan_dataset(data_root, skip_bad=config.skip_bad, person_pattern=config.person_pattern)
    if ds.skipped:
        log(f"skipped {len(ds.skipped)} malformed sample{'s' if len(ds.skipped) != 1 else ''} (--skip-bad)")
    crop_scale = config.crop_scale if config.crop_scale is not None else (ds.crop_scale or 1.0)
    if wider_than_stored(crop_scale, ds.crop_scale):
        raise ConfigError(f"crop scale {crop_scale:g} is wider than the crops {data_root} stores ({ds.crop_scale:g}, "
                          f"its {DATA_META}); give --crop-scale {ds.crop_scale:g} or less, or cut the videos again "
                          f"into a new folder with rtliveness prepare --crop-scale {crop_scale:g}")
    split_path = run_dir / "split.json"
    given = config.split_file is not None and not (resume and split_path.is_file())
    if given or (resume and split_path.is_file()):
        # a given split file is checked against the dataset before it is copied into the run
        source = Path(config.split_file) if given else split_path
        splits = _splits_from_file(source, ds, data_root, resumed=not given, log=log)
    else:
        splits = split_samples(ds.samples, config.fractions, seed=config.seed)
    train_s = [s for s in splits["train"] if s.class_name not in config.exclude_classes]
    dev_s = [s for s in splits["dev"] if s.class_name not in config.exclude_classes]
    if not train_s or len({s.label for s in train_s}) < 2:
        raise DataError(f"the training split of {data_root} needs both real and attack samples (has {len(train_s)} samples)")
    if not dev_s or len({s.label for s in dev_s}) < 2:
        raise DataError(f"the dev split of {data_root} needs both real and attack samples; add more identities")
    run_dir.mkdir(parents=True, exist_ok=True)  # only now: a refused run leaves no folder behind
    if not resume or given or not split_path.is_file():  # a fresh run's split replaces any left by a refused one
        atomic_write_text(split_path, json.dumps({k: [s.name for s in v] for k, v in splits.items()}, indent=1))

    meta = ModelMeta(input_size=config.input_size, mean=IMAGENET_MEAN, std=IMAGENET_STD, window=WINDOW, threshold=0.5,
                     crop_scale=float(crop_scale), class_names=CLASSES)
    run_meta = init_meta
    if state is not None and "meta" in state:  # a resumed run's preprocessing is its own (saved with its state)
        run_meta = ModelMeta.from_dict(state["meta"])
    if run_meta is not None:
        if (run_meta.mean, run_meta.std, run_meta.color_order) != (meta.mean, meta.std, "RGB"):
            meta = replace(meta, mean=run_meta.mean, std=run_meta.std, color_order=run_meta.color_order)
    people = len({s.person for s in ds.samples})
    # a name the pattern finds no person in is its own person (data.py's rule): say so
    grouped = compile_person_pattern(config.person_pattern) is not None  # "" or None: each sample its own group, as asked
    unnamed = [s.name for s in ds.samples if grouped and s.person == s.name.rsplit("/", 1)[-1]]
    if unnamed and not given and not resume:  # their person id is the whole name: a person's samples may land in train and test
        log(f"note: {len(unnamed)} of {len(ds.samples)} sample names carry no person id by --person-pattern "
            f"{config.person_pattern!r} (first: {unnamed[0]}): the whole name is taken as the person, so the split may put "
            "one person in train and test; name samples <class>_<person>_<k>, or give --person-pattern")
    log(f"{len(train_s)} train / {len(dev_s)} dev / {len(splits['test'])} test samples "
        f"({people} identities), crop scale {crop_scale}, input {config.input_size} px, device {device}")
    if not splits["test"]:
        why = (f"{config.split_file} has no test samples" if given else
               f"the test split is empty ({people} people are too few for a person-disjoint test split, "
               "which needs about 6 who each appear in every class)")
        log(f"note: {why}: evaluate on recordings of other people with 'rtliveness eval OTHER_DATA --weights "
            "RUN/model.pt' (without --split-file it scores every sample)")
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
        if start is not None:
            model.load_state_dict(start.state_dict())
            log(f"fine-tuning from {config.init_weights}")
        elif pretrained is not None:
            model.encoder.load_state_dict(pretrained.encoder.state_dict())
            log(f"encoder initialised from {config.pretrained}")
        else:
            log("no --pretrained weights: the encoder starts from scratch (nothing is downloaded)")
    anchor = None
    if config.anchor_live > 0:  # the starting model, frozen: the live side's reference (training only)
        anchor = frozen_anchor(start, device, frozen_encoder=config.encoder_lr_mult == 0)
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
                    xb = np.concatenate([jitter_windows(Xtr[idx], jitter[idx], crop_wobble(wob, len(idx), Xtr.shape[1], config.crop_jitter))
                                         for _ in range(views)])
                else:
                    xb = jitter_windows(Xtr[idx], jitter[idx])
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
                x = to_tensor(xb, meta, np.tile(flips[idx], views)).to(device)
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
                        ref_x = x if clean is None else to_tensor(clean, meta, np.tile(flips[idx], views)).to(device)
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
            # a step can turn the weights non-finite with a finite loss; the last step of an epoch has no
            # next loss to show it, so the weights (and the dev scores) are checked before any metric
            if not all(bool(torch.isfinite(t).all()) for t in (*model.parameters(), *model.buffers())
                       if t.is_floating_point()):
                raise DataError(f"training diverged (weights not finite) at epoch {epoch + 1} step {steps_per_epoch - 1}; "
                                "lower --lr")
            dev_scores = predict_windows(model, Xdev, meta, device)
            if not np.isfinite(dev_scores).all():
                raise DataError(f"training diverged ({int((~np.isfinite(dev_scores)).sum())} of {len(dev_scores)} dev "
                                f"scores not finite) at epoch {epoch + 1}; lower --lr")
            dev_classes = [s.class_name for s in dev_s]
            thr = deployment_threshold(dev_scores, np.asarray(dev_classes), method=config.calibration, target=config.calibration_target)
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
            # the epoch's files are written whole: a stop signal (Ctrl+C, SIGTERM) arriving here is
            # obeyed after them (torch.save cut in the middle raised "unexpected pos" instead)
            with interrupts_held():
                if figure <= best["acer"]:
                    best = {"acer": figure, "epoch": epoch + 1, "threshold": thr}
                    levels = security_levels(dev_scores, dev_classes)
                    save_checkpoint(run_dir / "model.pt", model, replace(meta, threshold=thr, security_levels=levels),
                                    extra={"train": {"epoch": epoch + 1, "dev": rec["dev"], "config": config.to_json(absolute=False)}})
                running_loss[0] = None
                save_state(epoch + 1, 0)
                pos[:] = [epoch + 1, 0]
                atomic_write_text(run_dir / "history.json", json.dumps(history, indent=1))
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


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"
