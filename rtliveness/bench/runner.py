"""The benchmark run: every case × device × model size, our variants next to the naive loop.

:func:`run_benchmark` returns ``{"machine", "settings", "cases", "rows"}`` (and writes it as JSON
when asked); :func:`format_table` renders the rows as a fixed-width table.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from ..errors import ConfigError
from ..model.dims import WINDOW
from .measure import STAGE_KEYS, make_row, torch_threads
from .naive import NAIVE_DOC, run_naive
from .scenes import CASES, make_random_checkpoint, prepare_case
from .variants import VARIANTS, run_variant

__all__ = ["run_benchmark", "format_table", "write_json", "machine_info", "cpu_model", "RESULT_KEYS"]

RESULT_KEYS = ("machine", "settings", "cases", "rows")


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``; elsewhere what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """Where the numbers come from: platform, library versions, threads, GPU, load."""
    import cv2
    import torch

    try:
        from ..model.ort import import_ort

        ort_version = import_ort().__version__
    except ImportError:
        ort_version = None
    return {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "onnxruntime": ort_version,
        "opencv": cv2.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def write_json(result: dict, path: Path | str) -> Path:
    """Write ``result`` as indented JSON to ``path``."""
    path = Path(path)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def _check_args(cases, frames, naive_frames, warmup, sizes, weights, variants, naive: bool = True) -> None:
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ConfigError(f"unknown bench variants {unknown}; choose from {', '.join(VARIANTS)}")
    bad = [c for c in cases if c not in CASES]
    if bad:
        raise ConfigError(f"unknown bench cases {bad}; choose from {', '.join(CASES)}")
    if frames < 1 or naive_frames < 1 or warmup < 0:
        raise ConfigError(f"need frames >= 1, naive_frames >= 1 and warmup >= 0 (got {frames}, {naive_frames}, {warmup})")
    for option, n in (("--frames", frames), ("--naive-frames", naive_frames if naive else WINDOW)):
        if n < WINDOW:  # both loops start with empty windows at the timed pass
            raise ConfigError(f"{option} must be >= {WINDOW}, got {n}: a loop scores its first window on frame "
                              f"{WINDOW}, so fewer frames time the detector alone")
    if weights is None and not sizes:
        raise ConfigError("no model input sizes to time")


def _models(weights, sizes: Sequence[int], work: Path) -> list[tuple[int, Path]]:
    """(input size, checkpoint) pairs: ``weights`` (its own size), else a random-init one per size."""
    if weights is not None:
        from ..model.checkpoint import load_checkpoint

        w = Path(weights)
        return [(load_checkpoint(w, verify_checksum=False).meta.input_size, w)]
    return [(int(s), make_random_checkpoint(work / f"random_{int(s)}.pt", int(s))) for s in sizes]


def run_benchmark(video: Path | str | None = None, cases: Sequence[str] = ("file", "one", "four"),
                  frames: int = 150, naive_frames: int = 45, warmup: int = 8,
                  devices: Sequence[str] | None = None, sizes: Sequence[int] = (112,),
                  variants: Sequence[str] = ("default", "default-torch"), naive: bool = True,
                  naive_torch_threads: int | None = 1, weights: Path | str | None = None,
                  work_dir: Path | str | None = None, synthetic_size: tuple[int, int] = (640, 480),
                  face_image: Any = None, json_path: Path | str | None = None,
                  progress: TextIO | None = None) -> dict:
    """Time each case (a video) × device × model input size: one row per variant of our loop
    and one ``naive`` row (the origin loop), each over ``frames`` (``naive_frames``) frames after
    ``warmup`` frames, with overlay + mp4 encode. ``speedup_vs_naive`` = FPS / the naive FPS of
    the same case, device and size.

    ``weights``: time this checkpoint (its own input size; ``sizes`` is then ignored); without it
    a random-init checkpoint per entry of ``sizes`` (speed does not depend on the weights).
    ``devices`` defaults to cpu, plus cuda when available. ``progress``: a stream for one line
    per row started (e.g. ``sys.stderr``).
    """
    _check_args(cases, frames, naive_frames, warmup, sizes, weights, variants, naive)
    import torch

    from ..model.device import resolve_device

    if json_path is not None and not Path(json_path).parent.exists():
        raise ConfigError(f"JSON output folder does not exist: {Path(json_path).parent}; create it first")
    if devices is None:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    devices = list(dict.fromkeys(resolve_device(d) for d in devices))
    say: Callable[[str], None] = (lambda s: print(s, file=progress, flush=True)) if progress is not None else (lambda s: None)
    tmp = tempfile.TemporaryDirectory(prefix="rtliveness-bench-") if work_dir is None else None
    work = Path(tmp.name) if tmp is not None else Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        models = _models(weights, sizes, work)
        need = warmup + max(frames, naive_frames) + 2
        case_info = []
        for case in cases:
            info = prepare_case(case, work, video=video, frames=need, size=synthetic_size, face_image=face_image)
            if info is None:
                say(f"bench: no video for the {case!r} case; skipped")
            else:
                n = info.get("frame_count") or 0
                # the warm-up is a pass of its own: the timed pass starts at frame 0
                short = [f"{what} rows all {n}, not {want}" for what, want in
                         (("the variant", frames), ("the naive", naive_frames if naive else 0)) if n < want]
                if n > 0 and short:
                    say(f"bench: {info['video']} has {n} frames: the {case!r} case times {' and '.join(short)}")
                case_info.append(info)
        rows: list[dict] = []
        for info in case_info:
            path = Path(info["video"])
            for device in devices:
                for size, wpath in models:
                    rows.extend(_rows_for(info["case"], path, device, size, wpath, frames, naive_frames, warmup,
                                          variants, naive, naive_torch_threads, work, say))
        result = {
            "machine": machine_info(),
            "settings": {
                "frames": frames, "naive_frames": naive_frames, "warmup": warmup, "devices": devices,
                "sizes": [s for s, _ in models], "variants": list(variants),
                "variant_docs": {v: VARIANTS[v].doc for v in variants},
                "naive": NAIVE_DOC if naive else None,
                "naive_torch_threads": naive_torch_threads,
                "weights": str(weights) if weights is not None else "random-init",
                "synthetic_size": list(synthetic_size),
            },
            "cases": case_info,
            "rows": rows,
        }
        if json_path is not None:
            write_json(result, json_path)
        return result
    finally:
        if tmp is not None:
            tmp.cleanup()


def _rows_for(case, video, device, size, weights, frames, naive_frames, warmup, variants, naive,
              naive_threads, work, say) -> list[dict]:
    """The rows of one case/device/size: the variants, then the naive row (speed-ups against it)."""
    naive_row = None
    if naive:
        say(f"bench: {case} {device} {size}px naive …")
        with torch_threads(naive_threads):
            m = run_naive(video, weights, device, naive_frames, warmup, work)
        naive_row = make_row(case, device, size, "naive", "torch", m)
        naive_row["speedup_vs_naive"] = 1.0
    rows = []
    for name in variants:
        v = VARIANTS[name]
        if v.cpu_only and device != "cpu":
            say(f"bench: {case} {device} {size}px {name} skipped: its backend runs on the CPU only")
            continue
        say(f"bench: {case} {device} {size}px {name} …")
        with torch_threads(v.torch_threads):
            m, backend = run_variant(v, video, weights, device, frames, warmup, work)
        row = make_row(case, device, size, name, backend, m)
        if naive_row is not None and naive_row["fps"] > 0:
            row["speedup_vs_naive"] = round(row["fps"] / naive_row["fps"], 2)
        rows.append(row)
    if naive_row is not None:
        rows.append(naive_row)
    return rows


def format_table(result: dict) -> str:
    """A fixed-width text table of ``result['rows']`` (one line per row), then the case labels."""
    short = {"decode": "dec", "detect": "det", "track": "trk", "crop": "crop", "preprocess": "prep",
             "embed": "emb", "head": "head", "overlay": "ovl", "encode": "enc"}
    head = (f"{'case':<5} {'dev':<4} {'px':>3} {'variant':<18} {'backend':<13} {'FPS':>6} {'x naive':>7} "
            f"{'p50ms':>6} {'p95ms':>6} " + " ".join(f"{short[k]:>5}" for k in STAGE_KEYS)
            + f" {'faces':>5} {'RSS MB':>7}")
    lines = [head, "-" * len(head)]
    for r in result["rows"]:
        sp = "" if r["speedup_vs_naive"] is None else f"{r['speedup_vs_naive']:.2f}"
        lines.append(
            f"{r['case']:<5} {r['device']:<4} {r['input_size']:>3} {r['variant']:<18} {r['backend']:<13} "
            f"{r['fps']:>6.1f} {sp:>7} {r['latency_ms_p50']:>6.1f} {r['latency_ms_p95']:>6.1f} "
            + " ".join(f"{r['stages_ms'][k]:>5.1f}" for k in STAGE_KEYS)
            + f" {r['faces_per_frame']:>5.2f} {r['peak_rss_mb']:>7.0f}")
    lines.append("stages: mean ms per frame; dec = decode on the source thread (overlapped); "
                 "naive emb = full SpoofModel.forward (5 encoder passes per window + head)")
    for c in result.get("cases", []):
        lines.append(f"{c['case']}: {c['label']} [{c['size'][0]}x{c['size'][1]}]")
    m = result.get("machine") or {}
    if m.get("cpu"):  # timings mean little without the machine
        load = m.get("loadavg")
        load = "n/a" if not load else " ".join(f"{x:.2f}" for x in load)
        lines.append(f"machine: {m['cpu']}, {m.get('cpu_count')} logical CPUs, load {load}")
    return "\n".join(lines)
