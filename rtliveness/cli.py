"""``rtliveness`` command line: a thin typer layer (options → config → library call).

Errors of the rtliveness family become one line on stderr and a non-zero exit code
(``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from . import __version__
from .errors import ConfigError, RtlivenessError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Real-time face liveness (presentation attack detection) on video streams.",
    pretty_exceptions_enable=False,
)

_STATE = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rtliveness {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")] = False,
) -> None:
    _STATE["debug"] = debug


def _fail(message: str, code: int) -> None:
    typer.echo(f"rtliveness: error: {message}", err=True)
    raise typer.Exit(code)


def guarded(fn: Callable) -> Callable:
    """Turn library errors into one clear line and a non-zero exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except RtlivenessError as exc:
            if _STATE["debug"]:
                raise
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            if _STATE["debug"]:
                raise
            typer.echo("rtliveness: interrupted", err=True)
            raise typer.Exit(130)
        except MemoryError:
            _fail("out of memory; use smaller frames/batches or a bigger machine", 1)
        except OSError as exc:
            if _STATE["debug"]:
                raise
            _fail(f"{exc.strerror or exc} ({exc.filename or 'I/O'})", 1)
        except Exception as exc:  # OpenCV/torch/runtime failures: still one line (--debug shows all)
            if _STATE["debug"]:
                raise
            first = (str(exc).strip().splitlines() or [""])[-1][:300]
            _fail(f"unexpected {type(exc).__name__}: {first}; rerun with --debug for the traceback", 1)

    return wrapper


DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N")]
WeightsOpt = Annotated[Optional[Path], typer.Option("--weights", help="SpoofModel checkpoint (default: bundled weights).")]


@app.command()
@guarded
def run(
    source: Annotated[str, typer.Argument(help="Camera index (0), rtsp:// or http(s):// URL, or a video file.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the annotated video here (.mp4, .avi, .mkv).")] = None,
    jsonl: Annotated[Optional[Path], typer.Option("--jsonl", help="Write one JSON object per frame here, then a summary line.")] = None,
    show: Annotated[Optional[bool], typer.Option("--show/--no-show", help="Open a window (q/Esc quits). Default: only for cameras.")] = None,
    device: DeviceOpt = "auto",
    weights: WeightsOpt = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Spoof threshold on p_spoof (default: calibrated, from the weights).")] = None,
    detector: Annotated[str, typer.Option("--detector", help="mtcnn | haar")] = "mtcnn",
    max_frames: Annotated[Optional[int], typer.Option("--max-frames", help="Stop after N frames.")] = None,
    detect_every: Annotated[int, typer.Option("--detect-every", help="Run the detector every N frames; the tracker carries boxes between.")] = 3,
    min_face: Annotated[Optional[int], typer.Option("--min-face", help="Smallest face side in pixels (default: 1/8 of the frame's short side).")] = None,
    max_faces: Annotated[int, typer.Option("--max-faces", help="At most this many faces per frame (largest first).")] = 20,
    give_up: Annotated[float, typer.Option("--give-up", help="Live streams: seconds without frames before giving up.")] = 30.0,
    backend: Annotated[str, typer.Option("--backend", help="auto | torch | onnx (onnx needs the [onnx] extra; auto uses it on the CPU when installed).")] = "auto",
    threads: Annotated[int, typer.Option("--threads", help="PyTorch CPU threads (0 = PyTorch's default).")] = 1,
) -> None:
    """Score every face in SOURCE: annotated video, JSON lines and a summary."""
    from .app import format_summary, process_source, stderr_if_tty
    from .config import DetectorConfig, PipelineConfig, StreamConfig
    from .pipeline import LivenessPipeline
    from .sources import open_source, parse_source

    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"--max-frames must be >= 1, got {max_frames}")
    if give_up < 0:
        raise ConfigError(f"--give-up must be >= 0 seconds, got {give_up}")
    kind, _ = parse_source(source)
    try:
        det_cfg = DetectorConfig(kind=detector, every_n=detect_every, min_face_size=min_face, max_faces=max_faces)
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc
    config = PipelineConfig(weights=weights, device=device, threshold=threshold, detector=det_cfg, backend=backend,
                            cpu_threads=threads)
    for p, what in ((out, "--out"), (jsonl, "--jsonl")):
        if p is not None and not Path(p).parent.exists():
            raise ConfigError(f"{what} folder does not exist: {Path(p).parent}; create it first")
    if out is not None:
        from .sinks import fourcc_for

        fourcc_for(Path(out))
    if show is None:
        show = kind == "camera"

    def on_event(event: str, detail: str) -> None:
        typer.echo(f"rtliveness: stream {event}: {detail}", err=True)

    with open_source(source, StreamConfig(give_up_s=give_up), on_event=on_event) as src:
        with LivenessPipeline.from_config(config) as pipeline:
            report = process_source(pipeline, src, out=out, jsonl=jsonl, show=show, max_frames=max_frames,
                                    progress=stderr_if_tty())
    typer.echo(format_summary(report), err=True)
    if report.stopped == "interrupted":
        raise typer.Exit(130)


LabelOpt = Annotated[str, typer.Option("--label", help="real | printed | replay | 2dmask")]


@app.command()
@guarded
def prepare(
    videos: Annotated[list[Path], typer.Argument(help="Face videos of one class.")],
    label: LabelOpt,
    out: Annotated[Path, typer.Option("--out", help="Dataset root in the origin layout.")],
    stride: Annotated[int, typer.Option("--stride", help="Frames between the 5 crops of a sample (1 = consecutive, as run sees them).")] = 1,
    step: Annotated[int, typer.Option("--step", help="Frames between the starts of consecutive samples.")] = 5,
    crop_scale: Annotated[float, typer.Option("--crop-scale", help="Context stored around the face box (training can narrow it).")] = 2.7,
    crop_size: Annotated[int, typer.Option("--crop-size", help="Stored crop side in pixels.")] = 224,
    person: Annotated[Optional[str], typer.Option("--person", help="Identity id for the sample names (default: the video's name).")] = None,
    detector: Annotated[str, typer.Option("--detector", help="mtcnn | haar")] = "mtcnn",
    min_face: Annotated[Optional[int], typer.Option("--min-face", help="Smallest face side in pixels (default: relative, as run).")] = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Cut face videos into 5-crop samples with the detector and crops that `run` uses."""
    from .config import DetectorConfig
    from .data import prepare_videos
    from .detect import build_detector
    from .scorer import resolve_device

    if not 0.5 <= crop_scale <= 4.0 or not 16 <= crop_size <= 1024:
        raise ConfigError(f"--crop-scale must be in 0.5..4 and --crop-size in 16..1024, got {crop_scale}, {crop_size}")
    det = build_detector(DetectorConfig(kind=detector, min_face_size=min_face), device=resolve_device(device))
    rep = prepare_videos(videos, label, out, det, crop_scale, crop_size, stride=stride, window_step=step, person=person)
    typer.echo(f"wrote {rep['written']} samples to {out / label} ({rep['dropped']} windows dropped: face lost)", err=True)


@app.command()
@guarded
def synth(
    out: Annotated[Path, typer.Option("--out", help="Dataset root to write (origin layout).")],
    samples_per_class: Annotated[int, typer.Option("--samples-per-class", help="Samples per class.")] = 100,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    assets: Annotated[Optional[Path], typer.Option("--assets", help="Folder of real face images/videos (default: the repo's assets/).")] = None,
    width: Annotated[int, typer.Option("--width", help="Rendered frame width.")] = 640,
    height: Annotated[int, typer.Option("--height", help="Rendered frame height.")] = 480,
) -> None:
    """Build a labelled synthetic dataset (real + printed/replay/2dmask attacks) from real live faces."""
    from .synth import SynthConfig, default_assets_dir, synthesize

    cfg = SynthConfig(samples_per_class=samples_per_class, seed=seed, frame_size=(width, height))
    rep = synthesize(assets or default_assets_dir(), out, cfg, progress=stderr_progress())
    typer.echo(json.dumps({k: rep[k] for k in rep if k in ("counts", "seconds", "skipped", "identities")}, default=str), err=True)


def stderr_progress():
    def cb(done: int, total: int, *rest) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{done}/{total}")
            sys.stderr.flush()

    return cb


@app.command()
@guarded
def train(
    data: Annotated[Path, typer.Argument(help="Dataset root in the origin layout.")],
    out: Annotated[Path, typer.Option("--out", help="Run folder (checkpoints, split, history).")],
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Epochs (default 5; with --resume: extend the run to this many).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 64,
    lr: Annotated[float, typer.Option("--lr")] = 1e-3,
    momentum: Annotated[float, typer.Option("--momentum")] = 0.9,
    weight_decay: Annotated[float, typer.Option("--weight-decay")] = 1e-7,
    input_size: Annotated[int, typer.Option("--input-size", help="Model input side in pixels (origin: 224).")] = 224,
    crop_scale: Annotated[Optional[float], typer.Option("--crop-scale", help="Face context scale (default: the dataset's).")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    device: DeviceOpt = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/last.pt.")] = False,
    pretrained: Annotated[Optional[Path], typer.Option("--pretrained", help="torchvision resnet18 ImageNet state dict.")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option("--exclude", help="Leave an attack class out of training (cross-attack tests).")] = None,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip malformed samples instead of stopping.")] = False,
    person_pattern: Annotated[str, typer.Option("--person-pattern", help="Regex whose group 1 is the person id in a sample name.")] = r"^[^_]+_([^_]+)_",
    calibration: Annotated[str, typer.Option("--calibration", help="eer | apcer | bpcer (threshold calibrated on the dev split).")] = "eer",
    target: Annotated[Optional[float], typer.Option("--target", help="Target APCER/BPCER for --calibration apcer|bpcer.")] = None,
    augment: Annotated[str, typer.Option("--augment", help="origin (Resize + flip) | strong (+ framing jitter, brightness/contrast).")] = "origin",
    schedule: Annotated[str, typer.Option("--schedule", help="constant (origin) | cosine learning-rate decay.")] = "constant",
) -> None:
    """Train a SpoofModel (origin recipe defaults) with person-disjoint train/dev/test splits."""
    from .train import TrainConfig, train as run_train

    if calibration not in ("eer", "apcer", "bpcer"):
        raise ConfigError(f"--calibration must be eer, apcer or bpcer, got {calibration!r}")
    cfg = TrainConfig(epochs=epochs or 5, batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
                      input_size=input_size, crop_scale=crop_scale, seed=seed, device=device, pretrained=pretrained,
                      exclude_classes=tuple(exclude or ()), skip_bad=skip_bad, person_pattern=person_pattern,
                      calibration=calibration, calibration_target=target, augment=augment, schedule=schedule)
    res = run_train(data, out, cfg, resume=resume, progress=sys.stderr if sys.stderr.isatty() else None,
                    log=lambda m: typer.echo(m, err=True), resume_epochs=epochs if resume else None)
    if res.interrupted:
        raise typer.Exit(130)
    typer.echo(f"model: {res.model_path} (threshold {res.threshold:.4f}); test split in {out / 'split.json'}", err=True)


@app.command("eval")
@guarded
def eval_cmd(
    data: Annotated[Path, typer.Argument(help="Dataset root in the origin layout.")],
    weights: WeightsOpt = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the full report here.")] = None,
    plots: Annotated[Optional[Path], typer.Option("--plots", help="Write ROC/DET/histogram/confusion PNGs here.")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Override the checkpoint's threshold.")] = None,
    split_file: Annotated[Optional[Path], typer.Option("--split-file", help="split.json of a training run.")] = None,
    split: Annotated[str, typer.Option("--split", help="Which split of --split-file to evaluate.")] = "test",
    device: DeviceOpt = "auto",
    skip_bad: Annotated[bool, typer.Option("--skip-bad")] = False,
) -> None:
    """Evaluate: APCER per attack type, BPCER, ACER, EER, AUC, BPCER@APCER, F1/F2/accuracy."""
    from .evaluate import evaluate_dataset, format_report

    if threshold is not None and not 0 < threshold < 1:
        raise ConfigError(f"--threshold must be in (0, 1), got {threshold}")
    rep = evaluate_dataset(data, weights, device, threshold, split_file, split if split_file else None, json_out, plots,
                           skip_bad, progress=sys.stderr if sys.stderr.isatty() else None)
    typer.echo(format_report(rep))


@app.command()
@guarded
def calibrate(
    data: Annotated[Path, typer.Argument(help="Dev dataset root in the origin layout.")],
    weights: Annotated[Path, typer.Option("--weights")],
    out: Annotated[Path, typer.Option("--out", help="Checkpoint to write with the calibrated threshold.")],
    method: Annotated[str, typer.Option("--method", help="eer | apcer | bpcer")] = "eer",
    target: Annotated[Optional[float], typer.Option("--target", help="Target APCER or BPCER (e.g. 0.05).")] = None,
    split_file: Annotated[Optional[Path], typer.Option("--split-file")] = None,
    split: Annotated[str, typer.Option("--split")] = "dev",
    all_samples: Annotated[bool, typer.Option("--all-samples", help="Calibrate on all of DATA (a separate dev set).")] = False,
    device: DeviceOpt = "auto",
) -> None:
    """Calibrate the decision threshold on a dev set and store it in a checkpoint.

    Default: the dev split of the split.json next to --weights (a training run's folder)."""
    from .evaluate import calibrate_checkpoint

    if method not in ("eer", "apcer", "bpcer"):
        raise ConfigError(f"--method must be eer, apcer or bpcer, got {method!r}")
    if split_file is None and not all_samples:
        cand = Path(weights).parent / "split.json"
        if not cand.is_file():
            raise ConfigError("pass --split-file RUN/split.json (the dev split), or --all-samples to calibrate on every "
                              "sample of DATA (only right when DATA is a separate dev set)")
        split_file = cand
    thr = calibrate_checkpoint(data, weights, out, method, target, device, split_file, split if split_file else None)
    typer.echo(f"threshold {thr:.4f} written to {out}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@guarded
def bench(ctx: typer.Context) -> None:
    """Benchmark every stage against the naive origin loop (options: rtliveness bench --help-bench)."""
    from .bench import main as bench_main

    args = list(ctx.args)
    if "--help-bench" in args:
        args = ["--help"]
    raise typer.Exit(bench_main(args))


@app.command()
@guarded
def export(
    out: Annotated[Path, typer.Option("--out", help="Output folder (encoder.onnx, head.onnx, meta.json).")],
    weights: WeightsOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="onnx")] = "onnx",
    opset: Annotated[int, typer.Option("--opset")] = 17,
) -> None:
    """Export the SpoofModel to ONNX (encoder + head graphs and the preprocessing metadata)."""
    if fmt != "onnx":
        raise ConfigError(f"unsupported --format {fmt!r}: use onnx")
    from .onnx_backend import export_onnx

    path = export_onnx(weights, out, opset=opset)
    typer.echo(f"exported to {path}")


if __name__ == "__main__":  # pragma: no cover
    app()
