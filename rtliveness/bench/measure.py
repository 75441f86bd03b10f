"""Timing one loop over one video, the way ``rtliveness run --out x.mp4`` runs it.

:func:`measure` drives ``step(frame) -> FrameResult`` over a :class:`FileSource` (decoding on its
own thread) and draws + encodes every result through the public
:class:`~rtliveness.runtime.sinks.VideoSink` (``write_image``). It records the wall time, the
latency from a frame leaving the source to its verdict, overlay/encode/decode seconds and faces.
:func:`make_row` turns that into one result row (mean ms per frame per stage, p50/p95 latency,
peak RSS). :func:`torch_threads` is the bench's one way to change PyTorch's thread count.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from ..model.device import torch_threads  # noqa: F401 - re-exported for the bench
from ..runtime.overlay import draw_result
from ..runtime.progress import FpsMeter
from ..runtime.sinks import VideoSink
from ..runtime.sources import FileSource
from ..types import Frame, FrameResult

__all__ = [
    "STAGE_KEYS",
    "ROW_KEYS",
    "Measurement",
    "Output",
    "InlineOutput",
    "measure",
    "warm",
    "make_row",
    "percentile",
    "peak_rss_mb",
    "torch_threads",
]

STAGE_KEYS = ("decode", "detect", "track", "crop", "preprocess", "embed", "head", "overlay", "encode")
ROW_KEYS = ("case", "device", "input_size", "variant", "backend", "frames", "seconds", "fps", "speedup_vs_naive",
            "latency_ms_p50", "latency_ms_p95", "stages_ms", "faces_per_frame", "windows_scored", "peak_rss_mb")

Step = Callable[[Frame], FrameResult]


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (``ru_maxrss``; it only grows)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024.0 * 1024.0) if sys.platform == "darwin" else r / 1024.0


def percentile(xs: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs, np.float64), q)) if len(xs) else float("nan")


@dataclass
class Measurement:
    """One timed pass: ``frames`` in ``seconds`` of wall time; per-frame latencies (s); seconds
    per stage summed over the frames; faces seen; windows scored (set by the caller)."""

    frames: int
    seconds: float
    latency_s: list[float]
    stages_s: dict[str, float] = field(default_factory=dict)
    faces: int = 0
    windows: int = 0


class Output(Protocol):
    """Where the measured loop's results go (overlay + encode); built by ``output(sink, stages)``."""

    def put(self, image_bgr: np.ndarray, result: FrameResult, fps: float | None) -> None: ...

    def close(self) -> None: ...


class InlineOutput:
    """Overlay + encode on the loop's own thread, as ``rtliveness run --out`` does; adds the
    seconds to ``stages["overlay"]`` and ``stages["encode"]``."""

    def __init__(self, sink: VideoSink, stages: dict[str, float]) -> None:
        self.sink = sink
        self.stages = stages

    def put(self, image_bgr: np.ndarray, result: FrameResult, fps: float | None) -> None:
        t0 = time.perf_counter()
        drawn = draw_result(image_bgr, result, fps)
        t1 = time.perf_counter()
        self.sink.write_image(drawn)
        self.stages["overlay"] += t1 - t0
        self.stages["encode"] += time.perf_counter() - t1

    def close(self) -> None:
        pass


def warm(step: Step, video: Path, n: int) -> None:
    """Run ``step`` over the first ``n`` frames of ``video`` (model warm-up; not measured)."""
    if n <= 0:
        return
    with FileSource(video) as src:
        for i, frame in enumerate(src):
            if i >= n:
                break
            step(frame)


def measure(video: Path, frames: int, step: Step, out_dir: Path,
            output: Callable[[VideoSink, dict], Output] = InlineOutput) -> Measurement:
    """Time ``step`` over the first ``frames`` frames of ``video``, every result drawn and encoded
    into ``out_dir/bench_out.mp4``. The wall time ends when the video file is finalised."""
    stages = {"overlay": 0.0, "encode": 0.0, "decode": 0.0}
    lat: list[float] = []
    faces = n = 0
    meter = FpsMeter()
    src = FileSource(video)
    sink = VideoSink(Path(out_dir) / "bench_out.mp4", src.fps)
    out: Output | None = None
    try:
        out = output(sink, stages)
        t_start = time.perf_counter()
        for frame in src:
            t_read = time.perf_counter()
            result = step(frame)
            t_verdict = time.perf_counter()
            lat.append(t_verdict - t_read)
            meter.tick(t_verdict)
            faces += len(result.faces)
            out.put(frame.image_bgr, result, meter.fps)
            n += 1
            if n >= frames:
                break
        out.close()
        out = None
        sink.close()
        seconds = time.perf_counter() - t_start
    finally:  # every close runs; an error in one is chained to the error that got us here
        try:
            if out is not None:
                out.close()
        finally:
            try:
                sink.close()
            finally:
                src.close()
    stages["decode"] = src.decode_seconds
    return Measurement(frames=n, seconds=seconds, latency_s=lat, stages_s=stages, faces=faces)


def make_row(case: str, device: str, size: int, variant: str, backend: str, m: Measurement) -> dict:
    """One result row (the keys of :data:`ROW_KEYS`); ``speedup_vs_naive`` is filled in later."""
    n = max(1, m.frames)
    return {
        "case": case,
        "device": device,
        "input_size": size,
        "variant": variant,
        "backend": backend,
        "frames": m.frames,
        "seconds": round(m.seconds, 4),
        "fps": round(m.frames / m.seconds, 3) if m.seconds > 0 else 0.0,
        "speedup_vs_naive": None,
        "latency_ms_p50": round(1000.0 * percentile(m.latency_s, 50), 3),
        "latency_ms_p95": round(1000.0 * percentile(m.latency_s, 95), 3),
        "stages_ms": {k: round(1000.0 * m.stages_s.get(k, 0.0) / n, 3) for k in STAGE_KEYS},
        "faces_per_frame": round(m.faces / n, 3),
        "windows_scored": int(m.windows),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
