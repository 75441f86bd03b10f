"""``rtliveness fleet``: many sources on a Ray cluster (extra ``[cluster]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ConfigError, SourceError
from ..config import LOW_LIGHT_TARGET, check_threshold
from .common import EXIT_INTERRUPTED, RESTART_DEFAULT, DeviceOpt, LowLightOpt, RestartOpt, WeightsOpt, guarded, tracker_config

__all__ = ["fleet"]


@guarded
def fleet(
    sources: Annotated[Optional[list[str]], typer.Argument(help="Video files, camera indexes, rtsp:// or http(s):// URLs.")] = None,
    sources_file: Annotated[Optional[Path], typer.Option("--sources-file", help="One source per line; watched: a line added starts a stream, a line removed stops it.")] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Writes NAME.jsonl per source (the run --jsonl contract), NAME.mp4 with --save-video, and fleet.json.")] = ...,
    address: Annotated[Optional[str], typer.Option("--address", help="Join a Ray cluster: auto, ray://HOST:PORT or HOST:PORT (default: start a local one).")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Stream worker actors (each owns several streams).")] = 2,
    scorers: Annotated[int, typer.Option("--scorers", help="Scorer actors holding the model (one per GPU on a GPU node).")] = 1,
    save_video: Annotated[bool, typer.Option("--save-video/--no-save-video", help="Also write the annotated video of every source.")] = False,
    max_frames: Annotated[Optional[int], typer.Option("--max-frames", help="Stop each source after N frames.")] = None,
    weights: WeightsOpt = None,
    device: DeviceOpt = "auto",
    security: Annotated[Optional[str], typer.Option("--security", help="Operating point stored with the weights: convenience | balanced | strict.")] = None,
    threshold: Annotated[Optional[float], typer.Option("--threshold", help="Spoof threshold on p_spoof in (0, 1); overrides --security.")] = None,
    detector: Annotated[str, typer.Option("--detector", help="Face detector: mtcnn | haar.")] = "mtcnn",
    backend: Annotated[str, typer.Option("--backend", help="auto | torch | onnx | onnx-int8 (an int8 encoder built for the weights; the bundled weights ship none) | torch-bf16 | openvino-bf16 (bfloat16 encoder on CPUs with AMX or AVX512-BF16, through PyTorch or OpenVINO; the latter needs the 'rtliveness[openvino]' extra).")] = "auto",
    give_up: Annotated[float, typer.Option("--give-up", help="Live streams: seconds without frames before giving up.")] = 30.0,
    worker_cpus: Annotated[float, typer.Option("--worker-cpus", help="Ray CPUs reserved per stream worker.")] = 1.0,
    batch_wait_ms: Annotated[float, typer.Option("--batch-wait-ms", help="How long a scorer call waits for other streams' calls to share its batch (0: never; calls that arrive while the scorer is busy are merged anyway).")] = 0.0,
    low_light_target: LowLightOpt = LOW_LIGHT_TARGET,
    restart_distance: RestartOpt = RESTART_DEFAULT,
) -> None:
    """Run many sources on Ray: workers own the streams, a shared batched scorer holds the model."""
    import importlib.util

    from ..config import DetectorConfig
    from ..fleet.config import FleetConfig
    from ..fleet.controller import run_fleet

    if importlib.util.find_spec("ray") is None:
        raise ConfigError("fleet needs Ray: pip install 'rtliveness[cluster]'")
    if threshold is not None:
        check_threshold(threshold)
    config = FleetConfig(sources=tuple(sources or ()), sources_file=sources_file, out_dir=out_dir, address=address,
                         workers=workers, scorers=scorers, save_video=save_video, max_frames=max_frames,
                         weights=weights, device=device, threshold=threshold, security=security, backend=backend,
                         detector=DetectorConfig(kind=detector), give_up_s=give_up, worker_cpus=worker_cpus,
                         batch_wait_ms=batch_wait_ms, low_light_target=low_light_target,
                         tracker=tracker_config(restart_distance))
    result = run_fleet(config)
    sources = result.get("sources", {})
    failed = [n for n, s in sources.items() if s["status"] == "failed"]
    total = sum(s["frames"] for s in sources.values())
    how = "interrupted" if result.get("stopped") == "interrupted" else "finished"
    where = f"; see {Path(out_dir) / 'fleet.json'}" if sources else ""
    typer.echo(f"rtliveness: fleet {how}: {len(sources)} sources, {total} frames, {len(failed)} failed{where}",
               err=True)
    if failed:
        raise typer.Exit(SourceError.exit_code)  # a source failed, as run's exit status
    if result.get("stopped") == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)
