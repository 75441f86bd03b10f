"""``rtliveness run``: score every face of a source (the CLI contract; options → config → library)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..config import LOW_LIGHT_TARGET, check_max_frames
from .common import EXIT_INTERRUPTED, RESTART_DEFAULT, DeviceOpt, LowLightOpt, RestartOpt, WeightsOpt, guarded, tracker_config

__all__ = ["run"]


@guarded
def run(
    source: Annotated[str, typer.Argument(metavar="SOURCE", help="Camera index (0), rtsp:// or http(s):// URL, a video file, or a photo (JPEG, PNG, BMP, WebP, TIFF, GIF, PPM, JPEG 2000, AVIF: scored as a still scene of one 5-frame window).")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the annotated video here (.mp4, .m4v, .mov, .avi or .mkv).")] = None,
    jsonl: Annotated[Optional[Path], typer.Option("--jsonl", help="Write one JSON object per frame here, then a summary line ('-': standard output).")] = None,
    show: Annotated[Optional[bool], typer.Option("--show/--no-show", help="Open a window (q/Esc quits). Default: only for cameras.")] = None,
    device: DeviceOpt = "auto",
    weights: WeightsOpt = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Spoof threshold on p_spoof in (0, 1); overrides --security.")] = None,
    security: Annotated[Optional[str], typer.Option("--security", help="Operating point stored with the weights: convenience | balanced | strict (default: the checkpoint's threshold).")] = None,
    detector: Annotated[str, typer.Option("--detector", help="Face detector: mtcnn | haar.")] = "mtcnn",
    max_frames: Annotated[Optional[int], typer.Option("--max-frames", help="Stop after N frames.")] = None,
    detect_every: Annotated[int, typer.Option("--detect-every", help="Run the detector every N frames; the tracker carries boxes between.")] = 3,
    steady_detect_every: Annotated[Optional[int], typer.Option("--steady-detect-every", help="Opt-in: while every tracked face is steady (found by its last 3 detector runs where the tracker predicted it), run the detector every N frames instead; a new, lost or jumpy face brings --detect-every back at once (default: off, a fixed cadence).")] = None,
    full_detect_every: Annotated[int, typer.Option("--full-detect-every", help="While faces are tracked, every N-th detector run scans the whole frame, the others only the regions around the faces (1 = always the whole frame).")] = 4,
    min_face: Annotated[Optional[int], typer.Option("--min-face", help="Smallest face side in pixels (default: 1/8 of the frame's short side, and with MTCNN down to 1/20 when no larger face is in the frame; giving it turns that second look off).")] = None,
    max_faces: Annotated[int, typer.Option("--max-faces", help="At most this many faces per frame (largest first).")] = 20,
    give_up: Annotated[float, typer.Option("--give-up", help="Live streams: seconds without frames before giving up.")] = 30.0,
    backend: Annotated[str, typer.Option("--backend", help="auto | torch | onnx | onnx-int8 | torch-bf16 | openvino-bf16 (onnx needs the 'rtliveness[onnx]' extra; auto uses it on the CPU when installed; onnx-int8: an int8 encoder built for the weights (scripts/build_int8_encoder.py; the bundled weights ship none), about 2x faster; torch-bf16: the encoder in bfloat16 on CPUs with AMX or AVX512-BF16, p_spoof within 0.02; openvino-bf16: the same through OpenVINO, its encoder about 4x faster than ONNX Runtime, needs the 'rtliveness[openvino]' extra).")] = "auto",
    threads: Annotated[int, typer.Option("--threads", help="PyTorch CPU threads (0 = PyTorch's default).")] = 1,
    low_light_target: LowLightOpt = LOW_LIGHT_TARGET,
    restart_distance: RestartOpt = RESTART_DEFAULT,
) -> None:
    """Score every face in SOURCE: annotated video, JSON lines and a summary."""
    from ..config import DetectorConfig, PipelineConfig, StreamConfig
    from ..runtime.sinks import check_output_paths, fourcc_for
    from ..runtime.sources import parse_source

    check_max_frames(max_frames)
    stream_config = StreamConfig(give_up_s=give_up)
    kind, value = parse_source(source)
    det_cfg = DetectorConfig(kind=detector, every_n=detect_every, min_face_size=min_face, max_faces=max_faces,
                             full_every=full_detect_every, steady_every=steady_detect_every)
    config = PipelineConfig(weights=weights, device=device, threshold=threshold, detector=det_cfg, backend=backend,
                            cpu_threads=threads, security=security, low_light_target=low_light_target,
                            tracker=tracker_config(restart_distance))
    check_output_paths(value if kind == "file" else None, out, jsonl)
    if out is not None:
        fourcc_for(Path(out))
    if show is None:
        show = kind == "camera"

    from contextlib import ExitStack

    from ..runtime.app import format_summary, interrupted_before_start, process_source
    from ..runtime.exposure import GreyFaceWatch
    from ..runtime.pipeline import LivenessPipeline
    from ..runtime.progress import stderr_if_tty
    from ..runtime.sources import open_source
    from ..runtime.stopsignals import stop_signals_as_interrupt

    def on_event(event: str, detail: str) -> None:
        typer.echo(f"rtliveness: stream {event}: {detail}", err=True)

    grey = GreyFaceWatch()
    src = None
    with stop_signals_as_interrupt(), ExitStack() as opened:
        try:
            src = opened.enter_context(open_source(source, stream_config, on_event=on_event))
            pipeline = opened.enter_context(LivenessPipeline.from_config(config))
        except KeyboardInterrupt:  # while the source opened or the model loaded: the JSON lines still end summed up
            report = interrupted_before_start(source if src is None else src.name, jsonl)
        else:
            report = process_source(pipeline, src, [grey], out=out, jsonl=jsonl, show=show, max_frames=max_frames,
                                    progress=stderr_if_tty())
    typer.echo(format_summary(report), err=True)
    declared = getattr(src, "frame_count", None) if kind == "file" else None
    gaps = getattr(src, "gaps", 0) if report.stopped == "end" else 0
    # frames missing beyond what the damaged stretches cost: the file ends early (a recording cut off,
    # an mp4 with its index at the front copied half-way), whether or not a stretch was damaged too
    truncated = (report.stopped == "end" and bool(declared)
                 and report.frames + getattr(src, "gap_reads", 0) < 0.9 * declared - 5)
    if gaps:
        stretches, were, it = ("stretches", "were", "them") if gaps > 1 else ("stretch", "was", "it")
        of = f" ({report.frames} of the {declared} frames it declares decoded)" if declared and not truncated else ""
        typer.echo(f"rtliveness: warning: {source} has damaged data: {gaps} {stretches} of it could not be decoded "
                   f"and {were} skipped{of}; the frames after {it} were scored, and their time is their media time",
                   err=True)
    if truncated:
        typer.echo(f"rtliveness: warning: {report.frames} of the {declared} frames {source} declares could be decoded; "
                   "the file may be truncated (was its recording finished?)", err=True)
    if grey.grey:
        typer.echo("rtliveness: warning: the faces have no colour (an infrared or night-mode camera?); the bundled model "
                   "scores many grey live faces as attacks: light the scene so the camera stays in colour, or fine-tune "
                   "on your own grey recordings (README, Limits)", err=True)
    if report.stopped == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)
