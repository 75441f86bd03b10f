"""``rtliveness bench``: time every stage of our loop against the naive origin loop.

Options → :func:`rtliveness.bench.run_benchmark` → the table on stdout (progress on stderr) and,
with ``--json``, the whole result in a file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ConfigError, WeightsError
from ..outputs import check_output_file, check_output_folder
from .common import guarded

__all__ = ["bench"]

#: the names of rtliveness.bench.VARIANTS and of its cases (kept here so --help imports nothing heavy)
VARIANT_NAMES = ("default, default-torch, int8, bf16, openvino-bf16, every-frame, steady-cadence, whole-frame-detect, unbatched-regions, "
                 "nchw-mtcnn, torch-2threads")
CASE_NAMES = "file, one, four"
#: the fewest measured frames of a row: a loop scores its first window (5 frames) on frame 5
MIN_FRAMES = 5


def _csv(value: str | None, what: str) -> list[str]:
    items = [x.strip() for x in (value or "").split(",") if x.strip()]
    if not items:
        raise ConfigError(f"{what} needs at least one value (a comma-separated list)")
    return items


def _sizes(value: str) -> list[int]:
    out = []
    for s in _csv(value, "--sizes"):
        if not s.isdigit() or not 16 <= int(s) <= 1024:
            raise ConfigError(f"--sizes: {s!r} is not a model input size in pixels (16..1024), e.g. 112,224")
        out.append(int(s))
    return out


def _wxh(value: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", value or "")
    if not m or not (64 <= int(m.group(1)) <= 4096 and 64 <= int(m.group(2)) <= 4096):
        raise ConfigError(f"--synthetic-size must be WIDTHxHEIGHT with sides in 64..4096, e.g. 640x480; got {value!r}")
    return int(m.group(1)), int(m.group(2))


@guarded
def bench(
    video: Annotated[Optional[Path], typer.Option("--video", help="Video of the 'file' case (default: examples/live_webcam.mov, else tests/data/talking_head.mov).")] = None,
    cases: Annotated[str, typer.Option("--cases", help=f"Comma list of cases: {CASE_NAMES} (one/four: generated videos with 1 or 4 moving faces).")] = "file,one,four",
    frames: Annotated[int, typer.Option("--frames", min=MIN_FRAMES, help="Measured frames per row of our loop (after the warm-up; a loop scores its first window on frame 5, so fewer would time the detector alone).")] = 150,
    naive_frames: Annotated[int, typer.Option("--naive-frames", min=MIN_FRAMES, help="Measured frames of the naive loop's row (it is slow; at least 5, as --frames).")] = 45,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Unmeasured warm-up frames before every row.")] = 8,
    device: Annotated[Optional[str], typer.Option("--device", "--devices", help="Comma list of devices: auto | cpu | cuda | cuda:N (default: cpu, plus cuda when available).")] = None,
    sizes: Annotated[str, typer.Option("--sizes", help="Comma list of model input sizes for the random-init checkpoints, e.g. 112,224 (ignored with --weights).")] = "112",
    variants: Annotated[str, typer.Option("--variants", help=f"Comma list of configurations of our loop: {VARIANT_NAMES}.")] = "default,default-torch",
    weights: Annotated[Optional[Path], typer.Option("--weights", help="Time this SpoofModel checkpoint (its own input size) instead of random-init ones (speed does not depend on the values).")] = None,
    naive: Annotated[bool, typer.Option("--naive/--no-naive", help="Also time the naive origin loop (the speed-up baseline).")] = True,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the whole result (machine, settings, cases, rows) as JSON here.")] = None,
    synthetic_size: Annotated[str, typer.Option("--synthetic-size", help="WIDTHxHEIGHT of the generated videos of the one/four cases.")] = "640x480",
    work_dir: Annotated[Optional[Path], typer.Option("--work-dir", help="Keep the generated videos, checkpoints and output video here (default: a temporary folder).")] = None,
) -> None:
    """Benchmark every stage (decode … encode), FPS, latency and memory of our loop against the
    naive origin loop, on a video file and generated one- and four-face videos."""
    import sys

    case_list = _csv(cases, "--cases")
    variant_list = _csv(variants, "--variants")
    size_list = _sizes(sizes)
    devices = _csv(device, "--device") if device is not None else None
    size_wh = _wxh(synthetic_size)
    if video is not None and video.is_dir():
        raise ConfigError(f"--video is a folder: {video}; give a video file")
    if video is not None and not video.is_file():
        raise ConfigError(f"--video not found: {video}")
    if weights is not None and not weights.is_file():
        raise WeightsError(f"weights file not found: {weights}; check --weights")
    if json_out is not None:
        check_output_file(json_out, "--json")
    if work_dir is not None:
        check_output_folder(work_dir, "--work-dir")

    from ..bench import format_table, run_benchmark

    result = run_benchmark(video=video, cases=case_list, frames=frames, naive_frames=naive_frames, warmup=warmup,
                           devices=devices, sizes=size_list, variants=variant_list, naive=naive, weights=weights,
                           work_dir=work_dir, synthetic_size=size_wh, json_path=json_out, progress=sys.stderr)
    typer.echo(format_table(result))
    if json_out is not None:
        typer.echo(f"wrote {json_out}", err=True)
