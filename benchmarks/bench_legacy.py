"""End-to-end benchmark: our stream loop vs the naive origin loop, stage by stage.

``run_benchmark(...)`` runs, for each *case* (a video) × device × model input size:

* one row per configuration *variant* (``default`` = ``PipelineConfig()`` as shipped; others
  from :data:`VARIANTS`, e.g. ``default-torch``), through the real :class:`LivenessPipeline`, and
* one ``naive`` row: the origin loop — MTCNN with facenet-pytorch defaults
  (``min_face_size=20, factor=0.709``) on every frame, and every full window's 5 crops
  re-encoded through the full ``SpoofModel.forward`` (one forward per window), same model.

Each row covers the whole path a ``rtliveness run --out x.mp4`` job takes: decode (FileSource,
on its thread) → detect → track → crop → preprocess → embed → head → overlay → mp4v encode.
Reported per row: end-to-end FPS (frames / wall seconds), the speed-up over the naive row of the
same case/device/size, p50/p95 latency from the frame leaving the source to its verdict, mean
milliseconds per frame of every stage, mean faces per frame and the process's peak RSS so far
(``ru_maxrss``; it only grows, so later rows include earlier ones).

Cases: ``file`` (``--video`` or ``examples/live_webcam.mov``; falls back to
``tests/data/talking_head.mov``), ``one`` and ``four`` (generated 640x480 30 FPS mp4v videos of
1 or 4 copies of a real face photo moving smoothly over a textured background).

Timings on small shared CPUs are noisy: compare rows of the same run, and prefer ratios.

Command line: ``python -m rtliveness.bench [--cases file,one,four] [--frames 150]
[--sizes 112,224] [--variants default,default-torch] [--devices cpu,cuda] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import queue
import resource
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from .config import DetectorConfig, PipelineConfig
from .crop import crop_face
from .detect import MtcnnDetector
from .errors import ConfigError
from .model import ModelMeta, SpoofModel, load_checkpoint, save_checkpoint
from .overlay import draw_result
from .pipeline import LivenessPipeline, StageTimes
from .scorer import preprocess_crops, resolve_device, sigmoid
from .sinks import VideoSink
from .sources import FileSource
from .track import IouTracker
from .track import box_iou as _iou
from .types import FaceBox, FrameResult, Verdict

__all__ = [
    "run_benchmark",
    "format_table",
    "Variant",
    "VARIANTS",
    "make_synthetic_video",
    "make_random_checkpoint",
    "RESULT_KEYS",
    "ROW_KEYS",
    "STAGE_KEYS",
    "main",
]

REPO = Path(__file__).resolve().parent.parent
STAGE_KEYS = ("decode", "detect", "track", "crop", "preprocess", "embed", "head", "overlay", "encode")
ROW_KEYS = ("case", "device", "input_size", "variant", "backend", "frames", "seconds", "fps", "speedup_vs_naive",
            "latency_ms_p50", "latency_ms_p95", "stages_ms", "faces_per_frame", "windows_scored", "peak_rss_mb")
RESULT_KEYS = ("machine", "settings", "cases", "rows")


# ---------------------------------------------------------------------------------------- variants
@dataclass(frozen=True)
class Variant:
    """A configuration of our loop to time.

    ``detector``: overrides of :class:`DetectorConfig`. ``roi``: detect between full-frame
    detections only in a region around each tracked face (``roi_scale`` × its size, downscaled so
    the face is ``roi_face_px`` pixels) — the proposed pipeline patch, implemented here by
    :class:`_RoiPipeline`. ``async_io``: overlay + encode on a writer thread.
    """

    name: str
    backend: str = "auto"
    detector: dict = field(default_factory=dict)
    roi: bool = False
    roi_face_px: int = 64
    async_io: bool = False
    torch_threads: int | None = None
    doc: str = ""


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("default", doc="PipelineConfig() as shipped: backend auto (ONNX Runtime when the [onnx] extra is "
                           "installed), MTCNN every 3rd frame with min face 1/8 of the short side, 1 torch thread"),
    Variant("default-torch", backend="torch", doc="the shipped defaults with the PyTorch scorer (no [onnx] extra)"),
    Variant("every-frame", detector={"every_n": 1}, doc="the shipped defaults but MTCNN on every frame"),
    Variant("torch-2threads", backend="torch", torch_threads=max(2, os.cpu_count() or 2),
            doc="PyTorch scorer with torch's default thread count (shows the 2-core OpenMP contention)"),
    Variant("async-io", async_io=True, doc="the shipped defaults with overlay + encode on a writer thread"),
    Variant("roi", detector={"every_n": 10, "roi_scale": 2.0}, roi=True,
            doc="prototype: full-frame detection every 10th frame, region detection around each track between"),
)}


# ---------------------------------------------------------------------------------------- inputs
def make_random_checkpoint(path: Path, input_size: int = 112, crop_scale: float = 1.5, seed: int = 0) -> Path:
    """A random-init SpoofModel checkpoint (speed does not depend on the weights)."""
    import torch

    path = Path(path)
    if path.is_file():
        return path
    torch.manual_seed(seed)
    return save_checkpoint(path, SpoofModel(), ModelMeta(input_size=input_size, crop_scale=crop_scale))


def _default_face() -> np.ndarray:
    for cand in (REPO / "tests" / "data" / "grace_hopper.jpg", REPO / "assets" / "grace_hopper_512x512.jpg"):
        img = cv2.imread(str(cand)) if cand.is_file() else None
        if img is not None:
            return img
    raise ConfigError("no face image for the generated bench videos; pass face_image=PATH (a photo of one face)")


def _background(w: int, h: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = cv2.resize(rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    stripes = (60 * np.sin(xx / 9.0 + yy / 23.0))[..., None]
    checker = (((xx // 40 + yy // 40) % 2) * 30)[..., None]
    bg = 0.5 * noise.astype(np.float32) + 60 + stripes + checker
    return np.clip(bg, 0, 255).astype(np.uint8)


def make_synthetic_video(path: Path, faces: int = 1, frames: int = 160, size: tuple[int, int] = (640, 480),
                         fps: float = 30.0, face_image: np.ndarray | str | Path | None = None) -> Path:
    """Write a ``size`` mp4v video of ``faces`` copies of a real face photo moving smoothly
    (Lissajous paths, each face in its own part of the frame) over a textured background."""
    path = Path(path)
    if isinstance(face_image, (str, Path)):
        face = cv2.imread(str(face_image))
        if face is None:
            raise ConfigError(f"cannot read face image {face_image}")
    else:
        face = face_image if face_image is not None else _default_face()
    w, h = size
    bg = _background(w, h)
    if faces == 1:
        side = int(0.45 * h)
        slots = [(w / 2, h / 2, 0.30 * w - side / 2 + 40, 0.12 * h)]
    else:
        cols = math.ceil(math.sqrt(faces))
        rows = math.ceil(faces / cols)
        side = int(0.75 * min(w / cols, h / rows))
        slots = []
        for k in range(faces):
            r, c = divmod(k, cols)
            cx, cy = (c + 0.5) * w / cols, (r + 0.5) * h / rows
            slots.append((cx, cy, 0.1 * w / cols, 0.08 * h / rows))
    tile = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    tiles = [tile if k % 2 == 0 else cv2.flip(tile, 1) for k in range(len(slots))]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise ConfigError(f"cannot write {path} with mp4v")
    try:
        for i in range(frames):
            img = bg.copy()
            t = i / fps
            for k, (cx, cy, ax, ay) in enumerate(slots):
                x = int(round(cx + ax * math.sin(2 * math.pi * t / 4.0 + k) - side / 2))
                y = int(round(cy + ay * math.sin(2 * math.pi * t / 3.0 + 2 * k) - side / 2))
                x, y = min(max(0, x), w - side), min(max(0, y), h - side)
                img[y:y + side, x:x + side] = tiles[k]
            writer.write(img)
    finally:
        writer.release()
    return path


def _default_video() -> tuple[Path | None, str]:
    ex = REPO / "examples" / "live_webcam.mov"
    if ex.is_file():
        return ex, "examples/live_webcam.mov"
    th = REPO / "tests" / "data" / "talking_head.mov"
    if th.is_file():
        return th, "tests/data/talking_head.mov (examples/live_webcam.mov absent)"
    return None, "none"


# ---------------------------------------------------------------------------------------- helpers
def _peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024.0 * 1024.0) if sys.platform == "darwin" else r / 1024.0


def _pct(xs: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs, np.float64), q)) if len(xs) else float("nan")


class _TimedScorer:
    """Wraps a TorchScorer/OnnxScorer so that preprocessing is timed apart from the encoder."""

    def __init__(self, scorer, device: str) -> None:
        self.inner = scorer
        self.meta = scorer.meta
        self.device = device
        self.preprocess_s = 0.0

    def embed(self, crops):
        if len(crops) == 0:
            return np.zeros((0, 512), np.float32)
        t0 = time.perf_counter()
        x = preprocess_crops(crops, self.meta)
        self.preprocess_s += time.perf_counter() - t0
        if hasattr(self.inner, "embed_array"):  # OnnxScorer
            return self.inner.embed_array(x)
        import torch

        with torch.inference_mode():  # the same computation as TorchScorer.embed
            e = self.inner.model.embed(torch.from_numpy(x).to(self.inner.device))
            return e.float().cpu().numpy()

    def head(self, windows):
        return self.inner.head(windows)


class _RoiPipeline(LivenessPipeline):
    """The proposed pipeline patch: with ``roi_scale > 0`` the detector runs on *every* frame —
    on the full frame when ``index % every_n == 0`` (or nothing is tracked), otherwise only in a
    square of ``roi_scale`` × each tracked face around it, downscaled so the face is about
    ``roi_face_px`` pixels. Faces of one region are kept; overlapping regions are merged by NMS
    through the tracker (largest IoU wins)."""

    roi_face_px = 64

    def step(self, frame, timestamp=None):
        self._roi_frame = frame  # the index decides full vs region detection
        res = super().step(frame, timestamp)
        return res

    def _detect(self, image):
        frame = getattr(self, "_roi_frame", None)
        idx = getattr(frame, "index", self._frames_seen - 1)
        boxes = [t.box for t in self.tracker._tracks if t.detected]  # noqa: SLF001 - bench-only prototype
        if idx % self._roi_every == 0 or not boxes:
            return super()._detect(image)
        h, w = image.shape[:2]
        found: list[FaceBox] = []
        scale = self.detector_config.roi_scale
        for b in boxes:
            cx, cy = b.center
            side = scale * max(b.width, b.height)
            x1, y1 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
            x2, y2 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
            if x2 - x1 < 12 or y2 - y1 < 12:
                continue
            sub = image[y1:y2, x1:x2]
            f = min(1.0, self.roi_face_px / max(1.0, max(b.width, b.height)))
            if f < 1.0:
                sub = cv2.resize(sub, (max(12, round(sub.shape[1] * f)), max(12, round(sub.shape[0] * f))),
                                 interpolation=cv2.INTER_AREA)
            for d in self._roi_detector.detect(sub):
                big = FaceBox(x1 + d.x1 / f, y1 + d.y1 / f, x1 + d.x2 / f, y1 + d.y2 / f, d.score).clipped(w, h)
                if big is not None and not any(_iou(big, o) > 0.5 for o in found):
                    found.append(big)
        return tuple(found)


class _AsyncWriter:
    """Overlay + encode on a thread (bounded queue), so they overlap with inference."""

    def __init__(self, sink: VideoSink, stats: dict) -> None:
        self.sink = sink
        self.stats = stats
        self.q: queue.Queue = queue.Queue(maxsize=8)
        self.error: BaseException | None = None
        self.t = threading.Thread(target=self._run, name="rtliveness-bench-writer", daemon=True)
        self.t.start()

    def _run(self) -> None:
        try:
            while True:
                item = self.q.get()
                if item is None:
                    return
                image, result, fps = item
                t0 = time.perf_counter()
                drawn = draw_result(image, result, fps)
                t1 = time.perf_counter()
                self.sink.write(drawn)
                t2 = time.perf_counter()
                self.stats["overlay"] += t1 - t0
                self.stats["encode"] += t2 - t1
        except BaseException as exc:  # reported by close()
            self.error = exc

    def put(self, image, result, fps) -> None:
        self.q.put((image, result, fps))

    def close(self) -> None:
        self.q.put(None)
        self.t.join()
        if self.error is not None:
            raise self.error


# ---------------------------------------------------------------------------------------- loops
def _build_ours(variant: Variant, weights: Path, device: str) -> tuple[LivenessPipeline, _TimedScorer]:
    det_cfg = replace(DetectorConfig(), **variant.detector)
    if variant.roi:
        det_cfg_pipe = replace(det_cfg, every_n=1)
    else:
        det_cfg_pipe = det_cfg
    cfg = PipelineConfig(weights=weights, device=device, detector=det_cfg_pipe, backend=variant.backend,
                         verify_checksum=False, cpu_threads=0 if variant.torch_threads is not None else 1)
    if variant.backend == "onnx" and device.startswith("cuda"):
        from .onnx_backend import OnnxScorer

        base = LivenessPipeline.from_config(replace(cfg, backend="torch"))
        scorer = OnnxScorer.from_checkpoint(weights, verify_checksum=False,
                                            providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
        detector = base.detector
    else:
        base = LivenessPipeline.from_config(cfg)
        scorer, detector = base.scorer, base.detector
    timed = _TimedScorer(scorer, device)
    cls = _RoiPipeline if variant.roi else LivenessPipeline
    pipe = cls(detector, timed, detector_config=det_cfg_pipe, tracker_config=cfg.tracker)
    if variant.roi:
        pipe._roi_every = det_cfg.every_n
        pipe._roi_detector = detector
        pipe.roi_face_px = variant.roi_face_px
    return pipe, timed


def _warm(step, video: Path, n: int) -> None:
    if n <= 0:
        return
    with FileSource(video) as src:
        for i, frame in enumerate(src):
            if i >= n:
                break
            step(frame)


def _measure(video: Path, frames: int, step, out_dir: Path, async_io: bool) -> dict:
    """Drive ``step(frame) -> (FrameResult, windows_scored)`` over ``video`` with overlay + encode."""
    stages = {"overlay": 0.0, "encode": 0.0}
    lat: list[float] = []
    faces = windows = n = 0
    sink = VideoSink(out_dir / "bench_out.mp4", 30.0)
    src = FileSource(video)
    sink.fps = src.fps or 30.0
    writer = _AsyncWriter(sink, stages) if async_io else None
    fps_ema = None
    t_prev = None
    t_start = time.perf_counter()
    try:
        for frame in src:
            t_read = time.perf_counter()
            result, scored = step(frame)
            t_verdict = time.perf_counter()
            lat.append(t_verdict - t_read)
            if t_prev is not None:
                dt = t_verdict - t_prev
                fps_ema = 1.0 / dt if fps_ema is None else 0.9 * fps_ema + 0.1 / dt
            t_prev = t_verdict
            faces += len(result.faces)
            windows += scored
            if writer is not None:
                writer.put(frame.image_bgr, result, fps_ema)
            else:
                drawn = draw_result(frame.image_bgr, result, fps_ema)
                t1 = time.perf_counter()
                sink.write(drawn)
                stages["overlay"] += t1 - t_verdict
                stages["encode"] += time.perf_counter() - t1
            n += 1
            if n >= frames:
                break
        if writer is not None:
            writer.close()
            writer = None
        sink.close()
        seconds = time.perf_counter() - t_start
    finally:
        if writer is not None:
            try:
                writer.close()
            except BaseException:
                pass
        sink.close()
        decode_s = src.decode_seconds
        src.close()
    stages["decode"] = decode_s
    return {"frames": n, "seconds": seconds, "latency": lat, "stages_s": stages, "faces": faces, "windows": windows}


def _run_ours(variant: Variant, video: Path, weights: Path, device: str, frames: int, warmup: int,
              out_dir: Path) -> dict:
    pipe, timed = _build_ours(variant, weights, device)
    _warm(lambda f: pipe.step(f), video, warmup)
    pipe.reset()
    pipe.timings = StageTimes()
    pipe._frames_seen = 0  # noqa: SLF001 - fresh frame numbering for every_n
    timed.preprocess_s = 0.0
    windows_before = sum(s.windows for s in pipe.track_summaries())
    m = _measure(video, frames, lambda f: (pipe.step(f), 0), out_dir, variant.async_io)
    st = dict(pipe.timings.seconds)
    st["embed"] = max(0.0, st["embed"] - timed.preprocess_s)
    st["preprocess"] = timed.preprocess_s
    m["stages_s"].update(st)
    m["windows"] = sum(s.windows for s in pipe.track_summaries()) - windows_before
    pipe.close()
    return m


class _NaiveLoop:
    """The origin loop: MTCNN facenet defaults every frame; per track a deque of the last 5 crops;
    each full window → ``SpoofModel.forward`` on all 5 crops (one call per window)."""

    def __init__(self, weights: Path, device: str) -> None:
        import torch

        self.torch = torch
        loaded = load_checkpoint(weights, verify_checksum=False)
        self.meta = loaded.meta
        self.device = device
        self.model = loaded.model.to(device).eval()
        self.detector = MtcnnDetector(DetectorConfig(min_face_size=20, factor=0.709), device=device)
        self.tracker = IouTracker()
        self.crops: dict[int, deque] = {}
        self.last_p: dict[int, float] = {}
        self.times = {s: 0.0 for s in ("detect", "track", "crop", "preprocess", "embed", "head")}
        self.windows = 0

    def reset(self) -> None:
        self.tracker.reset()
        self.tracker.pop_evicted()
        self.crops.clear()
        self.last_p.clear()
        self.times = {k: 0.0 for k in self.times}
        self.windows = 0

    def step(self, frame) -> FrameResult:
        torch = self.torch
        image = frame.image_bgr
        h, w = image.shape[:2]
        t0 = time.perf_counter()
        boxes = self.detector.detect(image)
        t1 = time.perf_counter()
        tracks = self.tracker.update(boxes, w, h)
        for tid in self.tracker.pop_evicted():
            self.crops.pop(tid, None)
            self.last_p.pop(tid, None)
        t2 = time.perf_counter()
        for t in tracks:
            dq = self.crops.setdefault(t.track_id, deque(maxlen=self.meta.window))
            dq.append(crop_face(image, t.box, self.meta.crop_scale, self.meta.input_size))
        t3 = time.perf_counter()
        pre = fwd = 0.0
        for t in tracks:
            dq = self.crops[t.track_id]
            if len(dq) == self.meta.window:
                a = time.perf_counter()
                x = torch.from_numpy(preprocess_crops(list(dq), self.meta)).unsqueeze(0).to(self.device)
                b = time.perf_counter()
                with torch.inference_mode():
                    logit = self.model(x).float().cpu().numpy()
                pre += b - a
                fwd += time.perf_counter() - b
                self.last_p[t.track_id] = float(sigmoid(logit.astype(np.float64))[0])
                self.windows += 1
        self.times["detect"] += t1 - t0
        self.times["track"] += t2 - t1
        self.times["crop"] += t3 - t2
        self.times["preprocess"] += pre
        self.times["embed"] += fwd  # the full forward: 5 encoder passes + head
        verdicts = []
        for t in tracks:
            p = self.last_p.get(t.track_id)
            label = "pending" if p is None else ("spoof" if p >= self.meta.threshold else "live")
            verdicts.append(Verdict(t.track_id, t.box, p, label))
        return FrameResult(frame.index, frame.timestamp, tuple(verdicts), detected=True)


def _run_naive(video: Path, weights: Path, device: str, frames: int, warmup: int, out_dir: Path) -> dict:
    loop = _NaiveLoop(weights, device)
    _warm(loop.step, video, warmup)
    loop.reset()
    m = _measure(video, frames, lambda f: (loop.step(f), 0), out_dir, False)
    m["stages_s"].update(loop.times)
    m["windows"] = loop.windows
    return m


class _torch_threads:
    """Temporarily ``torch.set_num_threads(n)`` (None: leave as is)."""

    def __init__(self, n: int | None) -> None:
        self.n = n
        self.prev: int | None = None

    def __enter__(self):
        import torch

        if self.n is not None:
            self.prev = torch.get_num_threads()
            torch.set_num_threads(int(self.n))
        return self

    def __exit__(self, *exc) -> None:
        import torch

        if self.prev is not None:
            torch.set_num_threads(self.prev)


def _row(case: str, device: str, size: int, variant: str, backend: str, m: dict) -> dict:
    n = max(1, m["frames"])
    stages = {k: round(1000.0 * m["stages_s"].get(k, 0.0) / n, 3) for k in STAGE_KEYS}
    return {
        "case": case,
        "device": device,
        "input_size": size,
        "variant": variant,
        "backend": backend,
        "frames": m["frames"],
        "seconds": round(m["seconds"], 4),
        "fps": round(m["frames"] / m["seconds"], 3) if m["seconds"] > 0 else 0.0,
        "speedup_vs_naive": None,
        "latency_ms_p50": round(1000.0 * _pct(m["latency"], 50), 3),
        "latency_ms_p95": round(1000.0 * _pct(m["latency"], 95), 3),
        "stages_ms": stages,
        "faces_per_frame": round(m["faces"] / n, 3),
        "windows_scored": int(m["windows"]),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


# ---------------------------------------------------------------------------------------- main API
def run_benchmark(video: Path | str | None = None, cases: Sequence[str] = ("file", "one", "four"),
                  frames: int = 150, naive_frames: int = 45, warmup: int = 8,
                  devices: Sequence[str] | None = None, sizes: Sequence[int] = (112,),
                  variants: Sequence[str] = ("default", "default-torch"), naive: bool = True, naive_torch_threads: int | None = 1,
                  weights: Path | str | None = None, work_dir: Path | str | None = None,
                  synthetic_size: tuple[int, int] = (640, 480), face_image: Any = None,
                  json_path: Path | str | None = None, progress=None) -> dict:
    """Run the benchmark; returns ``{"machine", "settings", "cases", "rows"}`` (see module doc).

    ``weights``: a checkpoint to time (its own input size; ``sizes`` is then ignored). Without
    it a random-init checkpoint is made per entry of ``sizes`` (``ModelMeta(input_size=S,
    crop_scale=1.5)``) — speed does not depend on the weights. ``devices`` defaults to cpu, plus
    cuda when available. ``frames``/``naive_frames``: measured frames per row (after ``warmup``).
    """
    import torch

    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ConfigError(f"unknown bench variants {unknown}; choose from {sorted(VARIANTS)}")
    if devices is None:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    devices = [resolve_device(d) for d in devices]
    tmp_ctx = tempfile.TemporaryDirectory(prefix="rtliveness-bench-") if work_dir is None else None
    work = Path(tmp_ctx.name) if tmp_ctx is not None else Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    say = (lambda s: print(s, file=progress, flush=True)) if progress is not None else (lambda s: None)
    try:
        # models
        models: list[tuple[int, Path]] = []
        if weights is not None:
            w = Path(weights)
            models.append((load_checkpoint(w, verify_checksum=False).meta.input_size, w))
        else:
            for s in sizes:
                models.append((int(s), make_random_checkpoint(work / f"random_{int(s)}.pt", int(s))))
        # videos
        case_info = []
        need = warmup + max(frames, naive_frames) + 2
        for case in cases:
            if case == "file":
                if video is not None:
                    path, label = Path(video), str(video)
                else:
                    path, label = _default_video()
                if path is None:
                    say("bench: no video for the 'file' case; skipped")
                    continue
            elif case in ("one", "four"):
                k = 1 if case == "one" else 4
                path = work / f"synthetic_{k}face_{synthetic_size[0]}x{synthetic_size[1]}.mp4"
                if not path.is_file():
                    make_synthetic_video(path, faces=k, frames=need, size=synthetic_size, face_image=face_image)
                label = f"generated {synthetic_size[0]}x{synthetic_size[1]} 30 FPS, {k} face(s)"
            else:
                raise ConfigError(f"unknown bench case {case!r}: use file, one or four")
            with FileSource(path) as src:
                info = {"case": case, "video": str(path), "label": label, "size": list(src.size),
                        "fps": src.fps, "frame_count": src.frame_count}
            case_info.append(info)
        rows: list[dict] = []
        for info in case_info:
            path = Path(info["video"])
            for device in devices:
                for size, wpath in models:
                    naive_row = None
                    if naive:
                        say(f"bench: {info['case']} {device} {size}px naive …")
                        with _torch_threads(naive_torch_threads):
                            m = _run_naive(path, wpath, device, naive_frames, warmup, work)
                        naive_row = _row(info["case"], device, size, "naive", "torch", m)
                    for vname in variants:
                        v = VARIANTS[vname]
                        say(f"bench: {info['case']} {device} {size}px {vname} …")
                        with _torch_threads(v.torch_threads):
                            m = _run_ours(v, path, wpath, device, frames, warmup, work)
                        row = _row(info["case"], device, size, vname, v.backend, m)
                        if naive_row is not None and naive_row["fps"] > 0:
                            row["speedup_vs_naive"] = round(row["fps"] / naive_row["fps"], 2)
                        rows.append(row)
                    if naive_row is not None:
                        naive_row["speedup_vs_naive"] = 1.0
                        rows.append(naive_row)
        try:
            import onnxruntime as ort  # noqa: F401
            ort_version = ort.__version__
        except ImportError:
            ort_version = None
        result = {
            "machine": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "cpu_count": os.cpu_count(),
                "torch": torch.__version__,
                "torch_threads": torch.get_num_threads(),
                "onnxruntime": ort_version,
                "opencv": cv2.__version__,
                "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            },
            "settings": {
                "frames": frames, "naive_frames": naive_frames, "warmup": warmup, "devices": list(devices),
                "sizes": [s for s, _ in models], "variants": list(variants),
                "variant_docs": {v: VARIANTS[v].doc for v in variants},
                "naive": "MTCNN min_face_size=20 factor=0.709 every frame; SpoofModel.forward on all 5 crops per full window",
                "naive_torch_threads": naive_torch_threads,
            },
            "cases": case_info,
            "rows": rows,
        }
        if json_path is not None:
            Path(json_path).write_text(json.dumps(result, indent=2) + "\n")
        return result
    finally:
        if tmp_ctx is not None:
            tmp_ctx.cleanup()


def format_table(result: dict) -> str:
    """A fixed-width text table of ``result['rows']`` (one line per row)."""
    short = {"decode": "dec", "detect": "det", "track": "trk", "crop": "crop", "preprocess": "prep",
             "embed": "emb", "head": "head", "overlay": "ovl", "encode": "enc"}
    head = (f"{'case':<5} {'dev':<4} {'px':>3} {'variant':<18} {'FPS':>6} {'x naive':>7} {'p50ms':>6} {'p95ms':>6} "
            + " ".join(f"{short[k]:>5}" for k in STAGE_KEYS) + f" {'faces':>5} {'RSS MB':>7}")
    lines = [head, "-" * len(head)]
    for r in result["rows"]:
        sp = "" if r["speedup_vs_naive"] is None else f"{r['speedup_vs_naive']:.2f}"
        lines.append(
            f"{r['case']:<5} {r['device']:<4} {r['input_size']:>3} {r['variant']:<18} {r['fps']:>6.1f} {sp:>7} "
            f"{r['latency_ms_p50']:>6.1f} {r['latency_ms_p95']:>6.1f} "
            + " ".join(f"{r['stages_ms'][k]:>5.1f}" for k in STAGE_KEYS)
            + f" {r['faces_per_frame']:>5.2f} {r['peak_rss_mb']:>7.0f}")
    lines.append("stages: mean ms per frame; dec = decode on the source thread (overlapped); "
                 "naive emb = full SpoofModel.forward (5 encoder passes per window + head)")
    for c in result.get("cases", []):
        lines.append(f"{c['case']}: {c['label']} [{c['size'][0]}x{c['size'][1]}]")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rtliveness.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", help="video for the 'file' case (default examples/live_webcam.mov)")
    ap.add_argument("--cases", default="file,one,four")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--naive-frames", type=int, default=45)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--devices", default=None, help="comma list: cpu,cuda (default cpu + cuda if available)")
    ap.add_argument("--sizes", default="112", help="comma list of model input sizes, e.g. 112,224")
    ap.add_argument("--variants", default="default,default-torch", help=f"comma list of {','.join(VARIANTS)}")
    ap.add_argument("--weights", default=None, help="time this checkpoint instead of random-init ones")
    ap.add_argument("--no-naive", action="store_true")
    ap.add_argument("--json", default=None, help="write the result dict here")
    a = ap.parse_args(argv)
    split = lambda s: [x.strip() for x in s.split(",") if x.strip()]  # noqa: E731
    result = run_benchmark(
        video=a.video, cases=split(a.cases), frames=a.frames, naive_frames=a.naive_frames, warmup=a.warmup,
        devices=split(a.devices) if a.devices else None, sizes=[int(s) for s in split(a.sizes)],
        variants=split(a.variants), naive=not a.no_naive, weights=a.weights, json_path=a.json,
        progress=sys.stderr)
    print(format_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
