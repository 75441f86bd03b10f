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
    detect_every: Annotated[int, typer.Option("--detect-every", help="Run the detector every N frames; the tracker carries boxes between.")] = 1,
    min_face: Annotated[int, typer.Option("--min-face", help="Smallest face side in pixels the detector looks for.")] = 40,
    max_faces: Annotated[int, typer.Option("--max-faces", help="At most this many faces per frame (largest first).")] = 20,
    give_up: Annotated[float, typer.Option("--give-up", help="Live streams: seconds without frames before giving up.")] = 30.0,
    backend: Annotated[str, typer.Option("--backend", help="torch | onnx (onnx needs the [onnx] extra).")] = "torch",
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
    config = PipelineConfig(weights=weights, device=device, threshold=threshold, detector=det_cfg, backend=backend)
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


def entrypoint() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
