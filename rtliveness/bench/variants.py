"""Our loop under test: named configuration variants of :class:`LivenessPipeline`, and timing one.

A :class:`Variant` is a configuration to time (``default`` = ``PipelineConfig()`` as shipped).
:func:`build_pipeline` builds it with ``LivenessPipeline.from_config`` and injects the scorer
wrapped in :class:`TimedScorer` (so preprocessing is timed apart from the encoder);
:func:`time_pipeline` warms a pipeline up and measures it over a video.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..config import DetectorConfig, PipelineConfig
from ..model.dims import EMBED_DIM
from ..runtime.pipeline import LivenessPipeline
from ..types import Frame, FrameResult
from .measure import InlineOutput, Measurement, measure, warm

__all__ = ["Variant", "VARIANTS", "TimedScorer", "build_pipeline", "time_pipeline", "run_variant"]


@dataclass(frozen=True)
class Variant:
    """A configuration of our loop to time: the scorer ``backend``, overrides of
    :class:`DetectorConfig` (``detector``), and PyTorch's thread count (``torch_threads``;
    None = the shipped ``PipelineConfig.cpu_threads``); ``cpu_only`` variants are left out of
    the rows of another device."""

    name: str
    backend: str = "auto"
    detector: dict = field(default_factory=dict)
    torch_threads: int | None = None
    doc: str = ""
    cpu_only: bool = False  # the backend runs on the CPU only: skipped in a CUDA bench

    def config(self, weights: Path | None, device: str) -> PipelineConfig:
        det = replace(DetectorConfig(), **self.detector)
        threads = PipelineConfig.cpu_threads if self.torch_threads is None else 0  # 0: set by the runner
        return PipelineConfig(weights=weights, device=device, detector=det, backend=self.backend,
                              verify_checksum=False, cpu_threads=threads)


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("default", doc="PipelineConfig() as shipped: backend auto (ONNX Runtime when the [onnx] extra is "
                           "installed), MTCNN every 3rd frame (channels-last on the CPU) with min face 1/8 of the short side "
                           "(every 4th run on the whole frame, the others around the tracked faces), 1 torch thread"),
    Variant("default-torch", backend="torch", doc="the shipped defaults with the PyTorch scorer (no [onnx] extra)"),
    Variant("int8", backend="onnx-int8", doc="the shipped defaults with the int8 encoder built for the weights "
                                           "(--backend onnx-int8; scripts/build_int8_encoder.py)"),
    Variant("bf16", backend="torch-bf16", doc="the shipped defaults with the encoder in bfloat16 through PyTorch "
                                              "(--backend torch-bf16; CPUs with AMX or AVX512-BF16)"),
    Variant("openvino-bf16", backend="openvino-bf16", cpu_only=True, doc="the shipped defaults with the encoder in bfloat16 through "
                                                          "OpenVINO (--backend openvino-bf16; the [openvino] extra, "
                                                          "CPUs with AMX or AVX512-BF16)"),
    Variant("every-frame", detector={"every_n": 1}, doc="the shipped defaults but MTCNN on every frame"),
    Variant("steady-cadence", detector={"steady_every": 5},
            doc="the shipped defaults with the opt-in steady cadence: MTCNN every 5th frame while every tracked "
                "face is steady (--steady-detect-every 5)"),
    Variant("whole-frame-detect", detector={"full_every": 1}, doc="the shipped defaults but every detector run scans "
                                                                     "the whole frame (no region scans around tracked faces)"),
    Variant("unbatched-regions", detector={"batch_regions": False},
            doc="the shipped defaults but each tracked face's region goes through MTCNN in its own call "
                "(no batched region scan)"),
    Variant("nchw-mtcnn", detector={"channels_last": False},
            doc="the shipped defaults but MTCNN's pools and R-/O-Net in PyTorch's NCHW layout, as facenet-pytorch "
                "ships them (the same boxes, slower on the CPU)"),
    Variant("torch-2threads", backend="torch", torch_threads=max(2, os.cpu_count() or 2),
            doc="PyTorch scorer with torch's default thread count (shows the 2-core OpenMP contention)"),
)}


class TimedScorer:
    """A scorer wrapper that times preprocessing apart from the encoder (``preprocess_s``).

    Scorers with ``embed_array`` (ONNX Runtime, PyTorch, bfloat16) get the encoder call on the
    already-preprocessed batch; any other backend is called as is (its preprocessing then counts
    as ``embed``)."""

    def __init__(self, scorer) -> None:
        from ..model.backends import preprocess_crops

        self._preprocess = preprocess_crops
        self.inner = scorer
        self.meta = scorer.meta
        self.preprocess_s = 0.0

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        inner = self.inner
        if len(crops) == 0:
            return np.zeros((0, EMBED_DIM), np.float32)
        embed_array = getattr(inner, "embed_array", None)
        if embed_array is None:
            return inner.embed(crops)
        t0 = time.perf_counter()
        x = self._preprocess(crops, self.meta)
        self.preprocess_s += time.perf_counter() - t0
        return embed_array(x)

    def head(self, windows: np.ndarray) -> np.ndarray:
        return self.inner.head(windows)

    def close(self) -> None:
        closer = getattr(self.inner, "close", None)
        if callable(closer):
            closer()


def build_pipeline(variant: Variant, weights: Path | None, device: str) -> tuple[LivenessPipeline, TimedScorer]:
    """``variant``'s pipeline on ``device`` (resolved), its scorer wrapped in a :class:`TimedScorer`."""
    cfg = variant.config(weights, device)
    base = LivenessPipeline.from_config(cfg)
    timed = TimedScorer(base.scorer)
    pipe = LivenessPipeline(base.detector, timed, threshold=base.threshold, detector_config=cfg.detector,
                            tracker_config=cfg.tracker, cpu_threads=base.cpu_threads,
                            low_light_target=cfg.low_light_target)
    return pipe, timed


def time_pipeline(pipe: LivenessPipeline, timed: TimedScorer, video: Path, frames: int, warmup: int,
                  out_dir: Path, step: Callable[[Frame], FrameResult] | None = None,
                  output=InlineOutput) -> Measurement:
    """Warm ``pipe`` up on ``warmup`` frames, reset it, then :func:`measure` ``step`` (default
    ``pipe.step``) over ``frames`` frames; adds the pipeline's stage seconds and windows scored."""
    step = step or pipe.step
    warm(step, video, warmup)
    pipe.reset()  # the measured pass starts at frame index 0 of a fresh FileSource: detection phase as in a run
    before = dict(pipe.timings.seconds)
    pre_before = timed.preprocess_s
    windows_before = sum(s.windows for s in pipe.track_summaries())
    m = measure(video, frames, step, out_dir, output)
    stages = {k: v - before.get(k, 0.0) for k, v in pipe.timings.seconds.items()}
    pre = timed.preprocess_s - pre_before
    stages["embed"] = max(0.0, stages.get("embed", 0.0) - pre)
    stages["preprocess"] = pre
    m.stages_s.update(stages)
    m.windows = sum(s.windows for s in pipe.track_summaries()) - windows_before
    return m


def run_variant(variant: Variant, video: Path, weights: Path | None, device: str, frames: int, warmup: int,
                out_dir: Path) -> tuple[Measurement, str]:
    """Build, warm up and measure ``variant``; returns the measurement and the backend it used."""
    from ..model.backends import choose_backend

    pipe, timed = build_pipeline(variant, weights, device)
    try:
        return time_pipeline(pipe, timed, video, frames, warmup, out_dir), choose_backend(variant.backend, device)
    finally:
        pipe.close()
