"""Model commands: ``train``, ``eval``, ``calibrate``, ``export``."""

from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..config import DEFAULT_PERSON_PATTERN, check_onnx_opset, check_threshold
from ..outputs import check_output_file, check_output_folder, check_outside
from ..errors import ConfigError
from .common import EXIT_INTERRUPTED, DeviceOpt, WeightsOpt, guarded

__all__ = ["train", "eval_cmd", "calibrate", "export", "pretrain"]


def _need_dataset(data: Path) -> None:
    """A missing dataset folder is reported at once, before torch is imported."""
    if not Path(data).is_dir():
        from ..errors import DataError
        from ..training.attacks import CLASSES

        if Path(data).exists():
            raise DataError(f"dataset path is a file, not a folder: {data}; give the folder holding "
                            f"{{{','.join(CLASSES)}}}/<sample>/")
        raise DataError(f"dataset folder not found: {data}; expected {data}/{{{','.join(CLASSES)}}}/<sample>/ "
                        "with 5 images each")


def _check_init_crop_scale(data: Path, init_weights: Path, crop_scale: float) -> None:
    """The crop scale taken from ``--init-weights`` (no ``--crop-scale`` given) must not be wider
    than the dataset's stored crops: one line that says where it came from and what to do."""
    from ..training.data import DATA_META, stored_crop_scale, wider_than_stored

    try:
        stored = stored_crop_scale(Path(data))
    except Exception:  # a bad metadata file: train's own scan names it
        return
    if wider_than_stored(crop_scale, stored):
        raise ConfigError(f"--init-weights {init_weights} was trained on crops at scale {crop_scale:g} (train's crop scale "
                          f"when --crop-scale is not given), wider than the crops {data} stores ({stored:g}, its "
                          f"{DATA_META}); give --crop-scale {stored:g} or less to fine-tune on these crops, or cut the "
                          f"videos again into a new folder with rtliveness prepare --crop-scale {crop_scale:g}")


@guarded
def train(
    data: Annotated[Path, typer.Argument(help="Dataset root in the origin layout.")],
    out: Annotated[Path, typer.Option("--out", help="Run folder (checkpoints, split, history).")],
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Epochs (default 5; with --resume: extend the run to this many).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Windows per optimiser step.")] = 64,
    lr: Annotated[float, typer.Option("--lr", help="SGD learning rate (origin: 1e-3).")] = 1e-3,
    momentum: Annotated[float, typer.Option("--momentum", help="SGD momentum (origin: 0.9).")] = 0.9,
    weight_decay: Annotated[float, typer.Option("--weight-decay", help="L2 weight decay (origin: 1e-7).")] = 1e-7,
    input_size: Annotated[Optional[int], typer.Option("--input-size", help="Model input side in pixels (default: 224, the origin's; with --init-weights: the checkpoint's).")] = None,
    crop_scale: Annotated[Optional[float], typer.Option("--crop-scale", help="Face context scale (default: the dataset's; with --init-weights: the checkpoint's).")] = None,
    init_weights: Annotated[Optional[Path], typer.Option("--init-weights", help="Fine-tune: start from this SpoofModel checkpoint (ours, e.g. weights/spoofmodel.pt, or an origin one).")] = None,
    encoder_lr: Annotated[float, typer.Option("--encoder-lr-mult", help="Encoder learning rate = --lr x this (0 freezes the encoder; try 0.1 when fine-tuning).")] = 1.0,
    teacher: Annotated[Optional[Path], typer.Option("--teacher", help="Teacher folder (MiniFASNet .pth files): distil its soft targets into the model.")] = None,
    distill_weight: Annotated[float, typer.Option("--distill-weight", help="Soft target = (1 - w) x label + w x teacher p_spoof (real/printed/replay samples).")] = 0.5,
    distill_features: Annotated[float, typer.Option("--distill-features", help="With --teacher, training only: weight of feature distillation — a linear map from the encoder's embedding of each crop must predict the teacher's 128-d embedding of it (cosine); the map is dropped after training, the checkpoint keeps the origin's parameters (0 = off).")] = 0.0,
    anchor_clean: Annotated[bool, typer.Option("--anchor-clean", help="With --anchor-live and --degrade: the anchor's reference is the starting model's logit on each live window before its degradations (and --gray / --still), so a darkened, blurred or compressed live window is pulled to the score its clean version had.")] = False,
    anchor_live: Annotated[float, typer.Option("--anchor-live", help="With --init-weights, training only: weight of learning without forgetting on the bona fide side — each live window's logit is kept near the starting model's on the same input, so real people stay accepted while the attack side moves (0 = off).")] = 0.0,
    distill_agree: Annotated[bool, typer.Option("--distill-agree", help="With --teacher: blend the teacher in only where it is on the label's side; where it is fooled (a sharp replay, a print it takes for a face) or wrong about a live face, the target stays the label.")] = False,
    split_file: Annotated[Optional[Path], typer.Option("--split-file", help="Use this split.json (train/dev/test sample names) instead of a new split.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split, the shuffling and the initialisation.")] = 0,
    device: DeviceOpt = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/last.pt.")] = False,
    pretrained: Annotated[Optional[Path], typer.Option("--pretrained", help="torchvision resnet18 ImageNet state dict.")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option("--exclude", help="Leave an attack class out of training (cross-attack tests).")] = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip malformed samples instead of stopping.")] = False,
    person_pattern: Annotated[str, typer.Option("--person-pattern", help="Regex whose group 1 is the person id in a sample name.")] = DEFAULT_PERSON_PATTERN,
    calibration: Annotated[str, typer.Option("--calibration", help="eer | apcer | bpcer (threshold calibrated on the dev split).")] = "eer",
    target: Annotated[Optional[float], typer.Option("--target", help="Target APCER/BPCER for --calibration apcer|bpcer.")] = None,
    augment: Annotated[str, typer.Option("--augment", help="origin (Resize + flip) | strong (+ framing jitter, brightness/contrast).")] = "origin",
    mixstyle: Annotated[float, typer.Option("--mixstyle", help="MixStyle domain generalisation, training only: with this probability per batch, mix the channel statistics after the encoder's first two stages between windows (0 = off; 0.5 is the paper's).")] = 0.0,
    still: Annotated[float, typer.Option("--still", help="Still windows, training only: this share of windows (every class alike) made static — one of their crops five times — as `run` sees a photo (0 = off).")] = 0.0,
    gray: Annotated[float, typer.Option("--gray", help="Grey windows, training only: this share of windows (every class alike) turned grey, as an infrared or night-mode camera delivers them (0 = off).")] = 0.0,
    degrade: Annotated[float, typer.Option("--degrade", help="Label-neutral camera degradations, training only: this share of windows (every class alike) gets dim light and sensor noise, blur, low resolution, JPEG, white balance or roll (0 = off).")] = 0.0,
    crop_jitter: Annotated[float, typer.Option("--crop-jitter", help="Training only, with --augment strong: move and zoom each of a window's 5 crops on its own by up to this fraction of the crop side, as tracker boxes wobble between frames (0 = off; 0.04 is about 4 px at 112 px).")] = 0.0,
    consistency: Annotated[float, typer.Option("--consistency", help="Training only, with --crop-jitter: score two wobbled views of each window and add this weight x the squared difference of their logits to the loss (0 = off; doubles the training time).")] = 0.0,
    schedule: Annotated[str, typer.Option("--schedule", help="constant (origin) | cosine learning-rate decay.")] = "constant",
    pixel_aux: Annotated[float, typer.Option("--pixel-aux", help="Training only: weight of pixel-wise binary supervision — a 1x1 convolution on the encoder's layer3 map predicts the window's target at every cell of every crop (DeePixBiS); the head is dropped after training, the checkpoint keeps the origin's parameters (0 = off).")] = 0.0,
    balance: Annotated[str, typer.Option("--balance", help="none (origin: every sample weighs 1) | families: bona fide and attacks get half the loss each, and every attack family an equal part of its half, so a rare family (a few dozen replays) is not the one the model learns least.")] = "none",
    select: Annotated[str, typer.Option("--select", help="Which epoch becomes model.pt: acer | eer (lowest on dev) | last.")] = "acer",
) -> None:
    """Train a SpoofModel (origin recipe defaults) with person-disjoint train/dev/test splits."""
    _need_dataset(data)
    check_output_folder(out, "--out")
    check_outside(out, data, "--out")  # a run folder in DATA reads as a class folder: every later eval or --resume stops
    from ..training.train import TrainConfig, train as run_train

    # a resumed run keeps its own settings (last.pt holds them, and its model): the checkpoint is not read
    if init_weights is not None and (input_size is None or crop_scale is None) and not resume:
        from ..model.checkpoint import load_checkpoint

        init_meta = load_checkpoint(init_weights).meta
        input_size = init_meta.input_size if input_size is None else input_size
        if crop_scale is None:
            crop_scale = init_meta.crop_scale
            _check_init_crop_scale(data, init_weights, crop_scale)
    cfg = TrainConfig(epochs=5 if epochs is None else epochs, batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
                      input_size=224 if input_size is None else input_size, crop_scale=crop_scale, init_weights=init_weights,
                      encoder_lr_mult=encoder_lr, teacher=teacher, distill_weight=distill_weight, distill_agree=distill_agree, distill_features=distill_features, anchor_live=anchor_live, anchor_clean=anchor_clean, split_file=split_file, seed=seed, device=device, pretrained=pretrained,
                      exclude_classes=tuple(exclude or ()), skip_bad=skip_bad, person_pattern=person_pattern,
                      calibration=calibration, calibration_target=target, augment=augment, schedule=schedule,
                      select=select, mixstyle=mixstyle, degrade=degrade, still=still, gray=gray,
                      crop_jitter=crop_jitter, consistency=consistency, balance=balance, pixel_aux=pixel_aux)
    from ..runtime.stopsignals import stop_signals_as_interrupt

    with stop_signals_as_interrupt():  # a supervisor's stop (SIGTERM) or a closed terminal saves last.pt as Ctrl+C does
        res = run_train(data, out, cfg, resume=resume, progress=sys.stderr if sys.stderr.isatty() else None,
                        log=lambda m: typer.echo(m, err=True), resume_epochs=epochs if resume else None)
    if res.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    typer.echo(f"model: {res.model_path} (threshold {res.threshold:.4f}); test split in {out / 'split.json'}", err=True)


@guarded
def pretrain(
    images: Annotated[list[Path], typer.Argument(help="Images, or folders searched recursively (jpg, png, ...).")],
    dlib: Annotated[Path, typer.Option("--dlib", help="dlib's resnet34_1000_imagenet_classifier.dnn (scripts/fetch_dlib_resnet34.sh caches it).")],
    out: Annotated[Path, typer.Option("--out", help="Encoder state dict to write (then: rtliveness train --pretrained OUT); OUT.json gets the record.")],
    steps: Annotated[int, typer.Option("--steps", help="Optimiser steps.")] = 1500,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Views per step.")] = 32,
    lr: Annotated[float, typer.Option("--lr", help="AdamW peak learning rate (warm-up, then cosine decay).")] = 2e-3,
    input_size: Annotated[int, typer.Option("--input-size", help="Student input side: the --input-size you will train at.")] = 112,
    cache_views: Annotated[int, typer.Option("--cache-views", help="Teacher features precomputed for this many augmented views per image (0: a new view every step, ~3x slower).")] = 2,
    max_images: Annotated[Optional[int], typer.Option("--max-images", help="Use a seeded random subset of this many images.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the subset, the views and the initialisation.")] = 0,
    device: DeviceOpt = "cpu",
) -> None:
    """ImageNet-like init for the encoder, offline: distil dlib's ImageNet ResNet-34 into resnet18."""
    if steps < 1 or batch_size < 1 or cache_views < 0 or not 32 <= input_size <= 512 or not (math.isfinite(lr) and lr > 0):
        raise ConfigError(f"need --steps >= 1, --batch-size >= 1, --cache-views >= 0, --input-size in 32..512 and "
                          f"--lr > 0; got {steps}, {batch_size}, {cache_views}, {input_size}, {lr}")
    if max_images is not None and max_images < 1:
        raise ConfigError(f"--max-images must be >= 1, got {max_images}")
    check_output_file(out, "--out", make_parent=True)
    from ..model.device import resolve_device
    from ..training.pretrain.distill import DistillConfig
    from ..training.pretrain.job import pretrain_encoder

    cfg = DistillConfig(batch_size=batch_size, lr=lr, student_size=input_size, cache_views=cache_views, seed=seed,
                        device=str(resolve_device(device)), warmup_steps=min(100, max(1, steps // 10)),
                        log_every=max(1, min(50, steps // 10)))
    rep = pretrain_encoder(images, dlib, out, steps, cfg, max_images=max_images, log=lambda m: typer.echo(m, err=True))
    agreement = ("no image held out (fewer than 10)" if rep.heldout_cos_before is None else
                 f"held-out agreement with the teacher cos {rep.heldout_cos_before:.3f} -> {rep.heldout_cos_after:.3f}")
    typer.echo(f"encoder: {rep.out} ({rep.steps} steps on {rep.images} images; {agreement}); next: rtliveness train "
               f"DATA --pretrained {shlex.quote(str(rep.out))} --input-size {input_size}", err=True)


@guarded
def eval_cmd(
    data: Annotated[Path, typer.Argument(help="Dataset root in the origin layout.")],
    weights: WeightsOpt = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the full report here.")] = None,
    plots: Annotated[Optional[Path], typer.Option("--plots", help="Write ROC/DET/histogram/confusion PNGs here.")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Override the checkpoint's threshold (and --security).")] = None,
    security: Annotated[Optional[str], typer.Option("--security", help="Evaluate at an operating point stored with the weights: convenience | balanced | strict.")] = None,
    split_file: Annotated[Optional[Path], typer.Option("--split-file", help="split.json of a training run.")] = None,
    split: Annotated[str, typer.Option("--split", help="Which split of --split-file to evaluate.")] = "test",
    device: DeviceOpt = "auto",
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip malformed samples (counted) instead of stopping.")] = False,
    person_pattern: Annotated[str, typer.Option("--person-pattern", help="Regex whose group 1 is the person id in a sample name (the identities of the 95 % intervals; as train's).")] = DEFAULT_PERSON_PATTERN,
) -> None:
    """Evaluate: APCER per attack type, BPCER, ACER, EER, AUC, BPCER@APCER, F1/F2/accuracy."""
    if threshold is not None:
        check_threshold(threshold)
    if split_file is None and split != "test":
        raise ConfigError(f"--split {split} needs --split-file RUN/split.json (without it every sample of DATA is evaluated)")
    _need_dataset(data)
    if json_out is not None:
        check_output_file(json_out, "--json", make_parent=True)
        check_outside(json_out, data, "--json", folder=False)
    if plots is not None:
        check_output_folder(plots, "--plots")
        check_outside(plots, data, "--plots")
    from ..training.evaluate import evaluate_dataset, format_report

    rep = evaluate_dataset(data, weights, device, threshold, split_file, split if split_file else None, json_out, plots,
                           skip_bad, progress=sys.stderr if sys.stderr.isatty() else None, security=security,
                           person_pattern=person_pattern)
    if rep.get("skipped"):
        typer.echo(f"skipped {rep['skipped']} malformed sample{'s' if rep['skipped'] != 1 else ''} (--skip-bad)", err=True)
    typer.echo(format_report(rep))
    beside = None if weights is None or split_file is not None else Path(weights).parent / "split.json"
    if beside is not None and beside.is_file():  # calibrate reads it by default; eval scores every sample
        typer.echo(f"rtliveness: note: {beside} lies next to --weights, and every sample of {data} was evaluated: if "
                   f"that run trained on it, its training samples are included; pass --split-file {beside} for its "
                   "held-out test split", err=True)


@guarded
def calibrate(
    data: Annotated[Path, typer.Argument(help="Dev dataset root in the origin layout.")],
    weights: Annotated[Path, typer.Option("--weights", help="Checkpoint to calibrate (a training run's model.pt).")],
    out: Annotated[Path, typer.Option("--out", help="Checkpoint to write with the calibrated threshold.")],
    method: Annotated[str, typer.Option("--method", "--calibration", help="eer | apcer | bpcer (--calibration, train's name for it, works too).")] = "eer",
    target: Annotated[Optional[float], typer.Option("--target", help="Target APCER or BPCER (e.g. 0.05).")] = None,
    split_file: Annotated[Optional[Path], typer.Option("--split-file", help="split.json of the training run (default: next to --weights).")] = None,
    split: Annotated[str, typer.Option("--split", help="Which split of --split-file to calibrate on.")] = "dev",
    all_samples: Annotated[bool, typer.Option("--all-samples", help="Calibrate on all of DATA (a separate dev set).")] = False,
    device: DeviceOpt = "auto",
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip malformed samples (counted) instead of stopping.")] = False,
) -> None:
    """Calibrate the decision threshold on a dev set and store it in a checkpoint.

    Default: the dev split of the split.json next to --weights (a training run's folder)."""
    from ..config import check_calibration

    check_calibration(method, target, "--method")
    _need_dataset(data)
    if all_samples and split_file is not None:
        raise ConfigError("--all-samples calibrates on every sample of DATA and --split-file on one split of it: give one")
    check_output_file(out, "--out", make_parent=True)
    check_outside(out, data, "--out", folder=False)
    if split_file is None and not all_samples:
        cand = Path(weights).parent / "split.json"
        if not cand.is_file():
            raise ConfigError("pass --split-file RUN/split.json (the dev split), or --all-samples to calibrate on every "
                              "sample of DATA (only right when DATA is a separate dev set)")
        split_file = cand
    from ..training.evaluate import calibrate_checkpoint

    cal = calibrate_checkpoint(data, weights, out, method, target, device, split_file,
                               split if split_file else None, skip_bad=skip_bad)
    if cal.skipped:
        typer.echo(f"skipped {cal.skipped} malformed sample{'s' if cal.skipped != 1 else ''} (--skip-bad)", err=True)
    on = f"the {split} split of {split_file}" if split_file else f"every sample of {data}"
    levels = ", ".join(f"{name} {value:.4f}" for name, value in cal.levels)
    typer.echo(f"threshold {cal.threshold:.4f} written to {out}; security levels {levels} "
               f"(calibrated on {cal.samples} samples: {on})")


@guarded
def export(
    out: Annotated[Path, typer.Option("--out", help="Output folder (encoder.onnx, head.onnx, meta.json).")],
    weights: WeightsOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset version.")] = 17,
) -> None:
    """Export the SpoofModel to ONNX (encoder + head graphs and the preprocessing metadata)."""
    if fmt != "onnx":
        raise ConfigError(f"unsupported --format {fmt!r}: use onnx")
    check_onnx_opset(opset)  # before torch loads
    from ..model.export import export_onnx

    path = export_onnx(weights, out, opset=opset)
    typer.echo(f"exported to {path}")
