"""The naive origin loop: the baseline every speed-up of the benchmark is a ratio against.

Per frame: MTCNN with facenet-pytorch's defaults (``min_face_size=20, factor=0.709``) on the full
frame, every frame; the IoU tracker; per track a deque of its last 5 crops; and for every full
window the full ``SpoofModel.forward`` on all 5 crops (5 encoder passes + head, one call per
window) — nothing cached, nothing batched across faces. Same model, same crops (the default low-light lift included), same overlay and
encode as our loop, so the ratio is the loop's design and nothing else.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import numpy as np

from ..config import LOW_LIGHT_TARGET, DetectorConfig
from ..runtime.crop import crop_face
from ..runtime.decision import label_for
from ..runtime.detect import build_detector
from ..runtime.exposure import lift_low_light
from ..runtime.track import IouTracker
from ..types import Frame, FrameResult, Verdict
from .measure import Measurement, measure, warm

__all__ = ["NaiveLoop", "run_naive", "NAIVE_DOC", "NAIVE_STAGES"]

NAIVE_DOC = "MTCNN min_face_size=20 factor=0.709 every frame; SpoofModel.forward on all 5 crops per full window"
NAIVE_STAGES = ("detect", "track", "crop", "preprocess", "embed", "head")


class NaiveLoop:
    """The origin loop; ``step(frame) -> FrameResult`` like :meth:`LivenessPipeline.step`.
    ``times`` holds seconds per stage (``embed`` = the full forward), ``windows`` the windows scored."""

    def __init__(self, weights: Path, device: str) -> None:
        import torch

        from ..logodds import sigmoid
        from ..model.backends import preprocess_crops
        from ..model.checkpoint import load_checkpoint

        self._torch = torch
        self._preprocess, self._sigmoid = preprocess_crops, sigmoid
        loaded = load_checkpoint(weights, verify_checksum=False)
        self.meta = loaded.meta
        self.device = device
        self.model = loaded.model.to(device).eval()
        self.detector = build_detector(DetectorConfig(kind="mtcnn", min_face_size=20, factor=0.709, channels_last=False),
                                       device=device)  # facenet-pytorch as shipped, as the origin ran it
        self.tracker = IouTracker()
        self.crops: dict[int, deque] = {}
        self.last_p: dict[int, float] = {}
        self.times = {s: 0.0 for s in NAIVE_STAGES}
        self.windows = 0

    def reset(self) -> None:
        """Forget tracks, crops, scores and the counters."""
        self.tracker.reset()
        self.tracker.pop_evicted()
        self.crops.clear()
        self.last_p.clear()
        self.times = {s: 0.0 for s in NAIVE_STAGES}
        self.windows = 0

    def _forward(self, crops: list[np.ndarray]) -> tuple[float, float, float]:
        """p_spoof of one window, and the seconds of preprocessing and of the forward."""
        torch = self._torch
        a = time.perf_counter()
        x = torch.from_numpy(self._preprocess(crops, self.meta)).unsqueeze(0).to(self.device)
        b = time.perf_counter()
        with torch.inference_mode():
            logit = self.model(x).float().cpu().numpy().astype(np.float64)
        p = float(self._sigmoid(logit).reshape(-1)[0])
        return p, b - a, time.perf_counter() - b

    def step(self, frame: Frame) -> FrameResult:
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
            dq.append(lift_low_light(crop_face(image, t.box, self.meta.crop_scale, self.meta.input_size), LOW_LIGHT_TARGET))
        t3 = time.perf_counter()
        for t in tracks:
            dq = self.crops[t.track_id]
            if len(dq) == self.meta.window:
                p, pre, fwd = self._forward(list(dq))
                self.last_p[t.track_id] = p
                self.times["preprocess"] += pre
                self.times["embed"] += fwd  # the full forward: 5 encoder passes + head
                self.windows += 1
        self.times["detect"] += t1 - t0
        self.times["track"] += t2 - t1
        self.times["crop"] += t3 - t2
        verdicts = []
        for t in tracks:
            p = self.last_p.get(t.track_id)
            label = "pending" if p is None else label_for(p, self.meta.threshold)
            verdicts.append(Verdict(t.track_id, t.box, p, label))
        return FrameResult(frame.index, frame.timestamp, tuple(verdicts), detected=True)

    def close(self) -> None:
        closer = getattr(self.detector, "close", None)
        if callable(closer):
            closer()
        self.model = None


def run_naive(video: Path, weights: Path, device: str, frames: int, warmup: int, out_dir: Path) -> Measurement:
    """Warm the naive loop up on ``warmup`` frames, then :func:`measure` it over ``frames``."""
    loop = NaiveLoop(weights, device)
    try:
        warm(loop.step, video, warmup)
        loop.reset()
        m = measure(video, frames, loop.step, out_dir)
        m.stages_s.update(loop.times)
        m.windows = loop.windows
        return m
    finally:
        loop.close()
