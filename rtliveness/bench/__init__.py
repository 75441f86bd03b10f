"""End-to-end benchmark: our stream loop vs the naive origin loop, stage by stage.

:func:`run_benchmark` runs, for each *case* (a video) × device × model input size, one row per
configuration *variant* of :class:`~rtliveness.runtime.pipeline.LivenessPipeline` (``default`` =
``PipelineConfig()`` as shipped; others from :data:`VARIANTS`) and one ``naive`` row: the origin
loop (MTCNN with facenet-pytorch defaults on every frame, every full window's 5 crops through the
full ``SpoofModel.forward``), same model. Each row covers the whole path of ``rtliveness run
--out x.mp4``: decode (on the source's thread) → detect → track → crop → preprocess → embed →
head → overlay → mp4v encode, and reports end-to-end FPS, the speed-up over the naive row, p50/p95
frame→verdict latency, mean ms per frame of every stage, faces per frame and peak RSS.

Cases: ``file`` (a given video, else ``examples/live_webcam.mov``), ``one`` and ``four``
(generated 640x480 30 FPS videos of 1 or 4 moving copies of a real face photo). Timings on small
shared CPUs are noisy: compare rows of one run, and prefer ratios.

Modules: ``scenes`` (test videos, random checkpoints, cases), ``naive`` (the baseline loop),
``variants`` (our loop's configurations and timing one), ``measure`` (timing a loop over a video
with overlay + encode; percentiles, RSS, the thread-count context manager), ``runner``
(``run_benchmark``, ``format_table``, JSON). Command line: ``rtliveness bench --help``.
"""

from __future__ import annotations

from .measure import ROW_KEYS, STAGE_KEYS, torch_threads
from .runner import RESULT_KEYS, format_table, run_benchmark, write_json
from .scenes import make_random_checkpoint, make_synthetic_video
from .variants import VARIANTS, Variant

__all__ = [
    "run_benchmark",
    "format_table",
    "write_json",
    "Variant",
    "VARIANTS",
    "make_synthetic_video",
    "make_random_checkpoint",
    "torch_threads",
    "RESULT_KEYS",
    "ROW_KEYS",
    "STAGE_KEYS",
]
