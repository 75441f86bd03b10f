"""``rtliveness prepare`` and ``rtliveness synth``: build datasets in the origin layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ConfigError
from ..outputs import check_output_folder, check_outside
from .common import DeviceOpt, guarded

__all__ = ["prepare", "synth"]


@guarded
def prepare(
    videos: Annotated[list[Path], typer.Argument(help="Videos, or one folder with a sub-folder per class (real/, printed/, replay/, 2dmask/).")],
    out: Annotated[Path, typer.Option("--out", help="Dataset root in the origin layout (created if missing).")],
    label: Annotated[Optional[str], typer.Option("--label", help="Class of every video given: real | printed | replay | 2dmask (not with a class-folder tree).")] = None,
    stride: Annotated[int, typer.Option("--stride", help="Frames between the 5 crops of a sample (1 = consecutive, as run sees them).")] = 1,
    step: Annotated[int, typer.Option("--step", help="Frames between the starts of consecutive samples.")] = 5,
    crop_scale: Annotated[float, typer.Option("--crop-scale", help="Context stored around the face box (training can narrow it).")] = 2.7,
    crop_size: Annotated[int, typer.Option("--crop-size", help="Stored crop side in pixels.")] = 224,
    person: Annotated[Optional[str], typer.Option("--person", help="Identity id for the sample names (default: each video's name).")] = None,
    detector: Annotated[str, typer.Option("--detector", help="Face detector: mtcnn | haar (use the one you run with).")] = "mtcnn",
    min_face: Annotated[Optional[int], typer.Option("--min-face", help="Smallest face side in pixels (default: relative, as run).")] = None,
    boxes: Annotated[str, typer.Option("--boxes", help="loop: each frame's box as `run` places it with its default cadence (detector every 3rd frame, tracker between; the default) | detect: the detector on every frame.")] = "loop",
    device: DeviceOpt = "cpu",
) -> None:
    """Cut labelled videos into 5-crop samples with the detector, tracker and crop that `run` uses."""
    from ..config import DetectorConfig
    from ..model.device import resolve_device
    from ..runtime.detect import build_detector
    from ..training.attacks import CLASSES
    from ..training.data import WINDOW
    from ..training.prepare import BOX_MODES, LoopBoxes, check_windows, labelled_videos, prepare_videos

    check_windows(stride, step)
    check_output_folder(out, "--out")
    if not 0.5 <= crop_scale <= 4.0 or not 16 <= crop_size <= 1024:
        raise ConfigError(f"--crop-scale must be in 0.5..4 and --crop-size in 16..1024, got {crop_scale}, {crop_size}")
    if len(videos) == 1 and Path(videos[0]).is_dir():
        if label is not None:
            raise ConfigError("--label is for video files; a folder gives each video the class of its sub-folder")
        check_outside(out, videos[0], "--out", what="video folder")
        pairs = labelled_videos(videos[0], warn=lambda m: typer.echo(f"rtliveness: warning: {m}", err=True))
    else:
        if label is None:
            raise ConfigError("give --label CLASS for video files, or one folder with a sub-folder per class")
        if label not in CLASSES:
            raise ConfigError(f"--label must be one of {' | '.join(CLASSES)} (a live person is real), got {label!r}")
        for v in videos:
            if Path(v).is_dir():
                raise ConfigError(f"{v} is a folder: with --label give video files (e.g. {Path(v) / '*.mp4'}), "
                                  "or give one folder with a sub-folder per class, without --label")
            if not Path(v).is_file():
                raise ConfigError(f"video not found: {v}")
        pairs = [(Path(v), label) for v in videos]
    if boxes not in BOX_MODES:
        raise ConfigError(f"--boxes must be {' or '.join(BOX_MODES)}, got {boxes!r}")
    # no second look for small faces: a sample's face is the recording's subject, never a small
    # bystander found when the subject is missed (its windows would carry the video's class)
    det_config = DetectorConfig(kind=detector, min_face_size=min_face, small_face_frac=None)
    det = build_detector(det_config, device=resolve_device(device))
    if boxes == "loop":
        det = LoopBoxes.for_detector(det, det_config)
    needs = (WINDOW - 1) * stride + 1  # the frames one sample spans
    held: list[str] = []  # the warnings of unreadable videos, until a video opens (all unreadable: one error)
    opened = False

    def warn_held() -> None:
        for line in held:
            typer.echo(line, err=True)
        held.clear()

    def on_video(v: dict) -> None:  # one line per video as it ends: progress, and the video that gave nothing
        nonlocal opened
        if "error" in v:
            held.append(f"rtliveness: warning: left out: {v['error']}")
            if opened:
                warn_held()
            return
        opened = True
        warn_held()
        if v["skipped"]:
            typer.echo(f"{v['video']}: already prepared in {out} ({v['samples']} samples), skipped", err=True)
        elif v["samples"] == 0 and v.get("frames", needs) < needs:  # too short for one window, face or not
            spread = f" ({WINDOW} crops {stride} frames apart, --stride)" if stride > 1 else ""
            typer.echo(f"rtliveness: warning: {v['video']}: no sample: the video has {v['frames']} frame"
                       f"{'s' if v['frames'] != 1 else ''} and a sample needs {needs} frames{spread}; record or give a "
                       "longer video", err=True)
        elif v["samples"] == 0:
            typer.echo(f"rtliveness: warning: {v['video']}: no sample (no face followed through 5 frames"
                       f"{'; ' + str(v['dropped']) + ' windows lost the face' if v['dropped'] else ''}); "
                       "check that a face is in view and large enough (--min-face)", err=True)
        else:
            typer.echo(f"{v['video']}: {v['samples']} {v['class']} samples of person {v['person']}"
                       f"{f' ({n} windows dropped: face lost)' if (n := v['dropped']) else ''}", err=True)

    from ..runtime.stopsignals import stop_signals_as_interrupt

    try:
        # SIGTERM / SIGHUP as Ctrl+C: the video being cut leaves no samples (killed outright, it left some
        # without its record, and the next run cut it again beside them)
        with stop_signals_as_interrupt():
            rep = prepare_videos(pairs, out, det, crop_scale, crop_size, stride=stride, window_step=step, person=person,
                                 on_video=on_video, settings={"detector": detector, "min_face": min_face, "boxes": boxes})
    except KeyboardInterrupt:
        warn_held()
        typer.echo("rtliveness: the videos finished so far are kept, the one being cut left nothing; "
                   "run the same command again to go on", err=True)
        raise
    finally:
        if boxes == "loop":
            det.close()
    per = ", ".join(f"{k} {v}" for k, v in rep["per_class"].items() if v)
    skipped = sum(v["skipped"] for v in rep["videos"])
    bad = sum("error" in v for v in rep["videos"])
    typer.echo(f"wrote {rep['written']} samples to {out} ({per or 'none'}; {rep['dropped']} windows dropped: face lost)"
               + (f"; {skipped} video{'s' if skipped != 1 else ''} already prepared, skipped" if skipped else "")
               + (f"; {bad} unreadable video{'s' if bad != 1 else ''} left out (named above)" if bad else ""), err=True)


@guarded
def synth(
    out: Annotated[Path, typer.Option("--out", help="Dataset root to write (origin layout).")],
    samples_per_class: Annotated[int, typer.Option("--samples-per-class", help="Samples per class.")] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives byte-identical samples.")] = 0,
    assets: Annotated[Optional[Path], typer.Option("--assets", help="Folder of real face images/videos (default: the repository's assets/).")] = None,
    width: Annotated[int, typer.Option("--width", help="Rendered frame width.")] = 640,
    height: Annotated[int, typer.Option("--height", help="Rendered frame height.")] = 480,
    workers: Annotated[int, typer.Option("--workers", help="Rendering processes.")] = 1,
    classes: Annotated[Optional[str], typer.Option("--classes", help="Comma list of classes to render (default: real,replay,printed,2dmask).")] = None,
    boxes: Annotated[str, typer.Option("--boxes", help="loop: crops at the boxes `run` gives (its detector cadence and tracker, after 4-6 warm-up frames; the default) | detect: the detector on every frame of the window.")] = "loop",
    camera_tone_p: Annotated[float, typer.Option("--camera-tone-p", help="Share of samples, every class alike, whose camera also tone-maps (S-curve) and saturates as phone and webcam pipelines do, from the same ranges as --replay-source-p's recording; 0 (the default) = the plain camera.")] = 0.0,
    replay_source_p: Annotated[float, typer.Option("--replay-source-p", help="Share of replays whose content is first 'recorded' as an attacker's video or photo is (resized, tone-mapped, sharpened, JPEG-compressed) before the screen shows it; 0 (the default) shows the source media as they are. Scenes, screens and camera are the same either way.")] = 0.0,
) -> None:
    """Build a labelled synthetic dataset (real + printed/replay/2dmask attacks) from real live faces."""
    if samples_per_class < 1:
        raise ConfigError(f"--samples-per-class must be >= 1, got {samples_per_class}")
    if width < 64 or height < 64:
        raise ConfigError(f"--width and --height must be at least 64, got {width}x{height}")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    check_output_folder(out, "--out")
    from ..runtime.progress import Progress, stderr_if_tty
    from ..training.attacks import CLASSES
    from ..training.prepare import BOX_MODES
    from ..training.synth import SynthConfig, default_assets_dir, synthesize

    if boxes not in BOX_MODES:
        raise ConfigError(f"--boxes must be {' or '.join(BOX_MODES)}, got {boxes!r}")
    kinds = {} if classes is None else {"classes": tuple(c.strip() for c in classes.split(",") if c.strip())}
    if classes is not None and not kinds["classes"]:
        raise ConfigError(f"--classes needs at least one of {', '.join(CLASSES)}, got {classes!r}")
    for flag, value in (("--replay-source-p", replay_source_p), ("--camera-tone-p", camera_tone_p)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{flag} must be in [0, 1], got {value}")
    cfg = SynthConfig(samples_per_class=samples_per_class, seed=seed, frame_size=(width, height), boxes=boxes,
                      replay_source_p=replay_source_p, camera_tone_p=camera_tone_p, **kinds)
    assets_dir = assets if assets is not None else default_assets_dir()
    if not Path(assets_dir).is_dir():
        raise ConfigError(f"--assets folder not found: {assets_dir}")
    from ..runtime.stopsignals import stop_signals_as_interrupt

    bar = Progress(stderr_if_tty(), total=samples_per_class * len(cfg.classes), unit="samples")
    # SIGTERM / SIGHUP as Ctrl+C: the samples written so far keep their records (killed outright, none had any)
    with stop_signals_as_interrupt():
        rep = synthesize(assets_dir, out, cfg, progress=lambda done, total, *rest: bar.update(done), workers=workers)
    bar.finish()
    if rep.get("unreadable_assets"):
        typer.echo(f"left out {len(rep['unreadable_assets'])} asset file(s) that could not be read (or videos under "
                   f"10 frames): {', '.join(rep['unreadable_assets'])}", err=True)
    short = {k: v for k, v in rep["counts"].items() if v < samples_per_class}
    if short:
        typer.echo(f"rtliveness: warning: fewer samples than --samples-per-class {samples_per_class}: "
                   f"{', '.join(f'{k} {v}' for k, v in short.items())} (a sample whose face the detector lost in every "
                   "attempt is given up: 'given_up' below); ask for more, or render larger frames (--width/--height)",
                   err=True)
    typer.echo(json.dumps({k: rep[k] for k in rep if k in ("counts", "seconds", "skipped", "identities")}, default=str),
               err=True)
