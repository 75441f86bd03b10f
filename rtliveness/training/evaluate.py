"""Evaluation of a SpoofModel on a dataset in the origin layout: the origin's F-scores and
accuracy next to ISO/IEC 30107-3 APCER per attack type, BPCER, ACER, EER, AUC and BPCER at
fixed APCER; a JSON report and PNG plots."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple, TextIO

import numpy as np

from ..errors import ConfigError, DataError
from ..model.checkpoint import LoadedModel, load_checkpoint, save_checkpoint
from ..model.device import resolve_device
from ..runtime.progress import Progress
from .data import (DATA_META, DEFAULT_PERSON_PATTERN, compile_person_pattern, load_windows, person_of_sample, read_split_file, scan_dataset,
                   wider_than_stored)
from .files import atomic_write_text
from .predict import predict_windows

__all__ = ["evaluate_dataset", "calibrate_checkpoint", "score_dataset", "select_split", "split_names", "Scored", "Calibrated"]


class Scored(NamedTuple):
    """What :func:`score_dataset` scored: one entry per sample, the model, and how many malformed
    samples ``skip_bad`` left out."""
    scores: np.ndarray
    classes: list[str]
    names: list[str]
    loaded: LoadedModel
    skipped: int


def split_names(split_file: Path | None, split: str | None) -> set[str] | None:
    """The sample names of ``split`` in ``split_file``, read (once) and checked; None without a file."""
    if split_file is None:
        return None
    names = read_split_file(Path(split_file))
    if split not in names:
        raise ConfigError(f"split {split!r} is not in {split_file} (has {', '.join(names)})")
    return set(names[split])


def select_split(ds, split_file: Path | None, split: str | None, wanted: set[str] | None = None):
    """The samples of ``ds`` named by ``split`` in ``split_file`` (all samples without a file);
    ``wanted``: :func:`split_names`' answer when the caller has read the file already."""
    samples = list(ds.samples)
    if split_file is None:
        return samples
    if wanted is None:
        wanted = split_names(split_file, split)
    chosen = [s for s in samples if s.name in wanted]
    left_out = set(wanted) & set(ds.skipped)  # malformed, skipped (skip_bad): counted, not missing
    if len(chosen) + len(left_out) != len(wanted):
        missing = sorted(set(wanted) - {s.name for s in chosen} - left_out)
        raise DataError(f"{len(missing)} sample{'s' if len(missing) != 1 else ''} of split {split!r} in {split_file} "
                        f"{'are' if len(missing) != 1 else 'is'} missing from {ds.root} (first: {missing[0]}); "
                        "give the dataset the split was made for")
    return chosen


def score_dataset(data_root: str | Path, weights: str | Path | None, device: str = "auto",
                  split_file: Path | None = None, split: str | None = "test", skip_bad: bool = False,
                  exclude_classes: tuple[str, ...] = (), progress: TextIO | None = None,
                  security: str | None = None, person_pattern: str | None = DEFAULT_PERSON_PATTERN) -> Scored:
    """The scores, classes and names of every selected sample, the model, and the malformed
    samples skipped. ``security``: a level the weights must store (checked before any scoring)."""
    wanted = split_names(split_file, split)  # a bad split file or split is refused before the model loads
    loaded = load_checkpoint(weights)
    if security is not None:
        loaded.meta.threshold_for(security)
    device = resolve_device(device)
    model = loaded.model.to(device)
    ds = scan_dataset(data_root, skip_bad=skip_bad, person_pattern=person_pattern)
    samples = [s for s in select_split(ds, split_file, split, wanted) if s.class_name not in exclude_classes]
    # the malformed samples left out of what is scored (the split's, with a split file)
    skipped = len(ds.skipped) if wanted is None else len(wanted & set(ds.skipped))
    if not samples:
        if skipped and wanted is not None:
            raise DataError(f"nothing left to score: every sample of the {split} split of {split_file} is malformed "
                            f"({skipped} left out by --skip-bad); fix them, or evaluate another split or dataset")
        if split_file is not None and split is not None:
            people = len({s.person for s in ds.samples})
            raise DataError(f"the {split} split of {split_file} is empty ({people} people in {data_root}: a person-disjoint "
                            "70/15/15 split needs about 6 people for a test split, 3 for a dev split); record more people, "
                            "or evaluate on a folder of recordings the model was not trained on (without --split-file, eval "
                            "scores every sample)")
        raise DataError(f"no samples to evaluate in {data_root}")
    meta = loaded.meta
    if wider_than_stored(meta.crop_scale, ds.crop_scale):
        which = f"the model {loaded.path}" if loaded.path is not None else "the model"
        raise ConfigError(f"{which} wants crops at scale {meta.crop_scale:g}, wider than the crops {data_root} stores "
                          f"({ds.crop_scale:g}, its {DATA_META}); cut the videos again into a new folder with rtliveness "
                          f"prepare --crop-scale {meta.crop_scale:g} (or wider), or evaluate weights trained at crop scale "
                          f"{ds.crop_scale:g} or less (rtliveness train --crop-scale)")
    bar = Progress(progress)
    scores = []
    for i in range(0, len(samples), 64):
        chunk = samples[i:i + 64]
        X = load_windows(chunk, meta.input_size, meta.crop_scale, ds.crop_scale)
        scores.append(predict_windows(model, X, meta, device))
        bar.status(f"scoring {min(i + 64, len(samples))}/{len(samples)}")
    bar.finish()
    return Scored(np.concatenate(scores), [s.class_name for s in samples], [s.name for s in samples], loaded, skipped)


def evaluate_dataset(data_root: str | Path, weights: str | Path | None = None, device: str = "auto",
                     threshold: float | None = None, split_file: Path | None = None, split: str | None = "test",
                     json_path: Path | None = None, plots_dir: Path | None = None, skip_bad: bool = False,
                     progress: TextIO | None = None, security: str | None = None,
                     person_pattern: str | None = DEFAULT_PERSON_PATTERN) -> dict:
    """Score every sample and report the metrics at the checkpoint's threshold, or its
    ``security`` level's, or the given ``threshold`` (which overrides ``security``)."""
    from .metrics import evaluate_scores
    from .metrics_bootstrap import bootstrap_intervals

    compile_person_pattern(person_pattern)  # a bad pattern is one line before any scoring
    t0 = time.perf_counter()
    scores, classes, names, loaded, skipped = score_dataset(data_root, weights, device, split_file, split, skip_bad,
                                                            progress=progress, security=None if threshold is not None else security,
                                                            person_pattern=person_pattern)
    thr = loaded.meta.operating_threshold(threshold, security)
    report = evaluate_scores(scores, np.asarray(classes), thr)
    persons = [person_of_sample(n, person_pattern) for n in names]  # the identities of the intervals
    if len(set(persons)) > 1:
        report["ci95_over_identities"] = bootstrap_intervals(scores, classes, persons, thr)
    report["security_levels"] = {k: float(v) for k, v in (loaded.meta.security_levels or ())}
    report["weights"] = str(loaded.path)
    report["data"] = str(data_root)
    report["split"] = split if split_file is not None else "all"
    report["skipped"] = skipped
    report["seconds"] = round(time.perf_counter() - t0, 2)
    report["scores"] = [{"sample": n, "class": c, "p_spoof": round(float(p), 6)} for n, c, p in zip(names, classes, scores)]
    if plots_dir is not None:
        from .plots import save_plots

        Path(plots_dir).mkdir(parents=True, exist_ok=True)
        report["plots"] = [str(p) for p in save_plots(scores, np.asarray(classes), thr, Path(plots_dir))]
    if json_path is not None:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(json_path), json.dumps(report, indent=1))
    return report


class Calibrated(NamedTuple):
    threshold: float
    skipped: int  # malformed samples left out (``skip_bad``)
    levels: tuple[tuple[str, float], ...] = ()  # the security levels calibrated on the same scores
    samples: int = 0  # how many samples the calibration scored


def calibrate_checkpoint(data_root: str | Path, weights: str | Path, out: str | Path, method: str = "eer",
                         target: float | None = None, device: str = "auto", split_file: Path | None = None,
                         split: str | None = "dev", skip_bad: bool = False) -> Calibrated:
    """Calibrate the threshold on a dev set and write a checkpoint that carries it, stored as the
    input was (int8 stays int8), with its security levels calibrated again on the same scores (a
    site's ``--security balanced`` is then the site's, not the old data's). A ``<file>.sha256``
    beside ``out`` or beside ``weights`` means one is written for ``out``: a stale one would make
    every later load refuse the file."""
    from .metrics import deployment_threshold
    from .metrics_thresholds import security_levels

    scores, classes, _, loaded, skipped = score_dataset(data_root, weights, device, split_file, split, skip_bad)
    where = f"the {split} split of {split_file}" if split_file is not None else str(data_root)
    n_live = sum(c == "real" for c in classes)
    if n_live == 0 or n_live == len(classes):
        raise DataError(f"calibration needs both bona fide ('real') and attack samples; {where} has {n_live} bona fide "
                        f"and {len(classes) - n_live} attack samples")
    thr = deployment_threshold(scores, np.asarray(classes), method=method, target=target)
    out = Path(out)
    sidecar = any(p.with_name(p.name + ".sha256").is_file() for p in (out, Path(weights)))
    levels = security_levels(scores, classes)
    save_checkpoint(out, loaded.model.cpu(), replace(loaded.meta, threshold=thr, security_levels=levels),
                    storage=loaded.storage, write_sha256=sidecar)
    return Calibrated(thr, skipped, levels, len(classes))


def format_report(r: dict) -> str:
    def pct(v):
        return "n/a" if v is None else f"{100 * v:6.2f}%"

    lines = [f"{r['n']} samples ({r['n_bona_fide']} bona fide, {r['n_attack']} attacks), threshold {r['threshold']:.4f}"]
    for k, v in r["apcer"].items():
        lines.append(f"  APCER {k:<8} {pct(v)}")
    lines += [
        f"  APCER max      {pct(r['apcer_max'])}",
        f"  BPCER          {pct(r['bpcer'])}",
        f"  ACER           {pct(r['acer'])}",
        f"  EER            {pct(r['eer'])}",
        f"  AUC            {_f(r['auc'])}",
        f"  BPCER@APCER=1% {pct(r['bpcer_at_apcer_1pct'])}",
        f"  BPCER@APCER=5% {pct(r['bpcer_at_apcer_5pct'])}",
        f"  BPCER@APCER=10% {pct(r.get('bpcer_at_apcer_10pct'))}",
    ]
    ci = r.get("ci95_over_identities")
    if ci:
        def iv(k):
            return "n/a" if ci.get(k) is None else f"{100 * ci[k][0]:.1f}-{100 * ci[k][1]:.1f}%"

        lines.append(f"  95% interval over {ci['identities']} identities: ACER {iv('acer')}, APCER max {iv('apcer_max')}, "
                     f"BPCER {iv('bpcer')}, EER {iv('eer')}")
    lines += [
        f"  accuracy {pct(r['accuracy'])}  F1 macro {_f(r['f1_macro'])}  F1 weighted {_f(r['f1_weighted'])}  F2 weighted {_f(r['f2_weighted'])}",
    ]
    if not r["n_attack"] or not r["n_bona_fide"]:  # say why the n/a, rather than leave it to be guessed
        lacking, rate, add = (("attack", "APCER", "printed/, replay/ or 2dmask/") if not r["n_attack"]
                              else ("bona fide", "BPCER", "real/"))
        lines.append(f"  note: no {lacking} samples, so {rate}, ACER, EER, AUC, BPCER@APCER and F1 macro are undefined (n/a); "
                     f"evaluate a set with {add} samples too")
    return "\n".join(lines)


def _f(v):
    return "n/a" if v is None else f"{v:.4f}"
