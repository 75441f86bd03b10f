"""Two speed-up ideas that were measured and not adopted (see benchmarks/README.md), kept runnable.

* ``async-io``: overlay + mp4 encode on a writer thread (bounded queue) instead of the loop's
  thread, so they overlap with detection and inference (:class:`AsyncOutput`).
* ``roi``: MTCNN on *every* frame, but on the full frame only every ``--roi-every``-th frame (or
  when nothing is tracked); in between only in a square of ``roi_scale`` × each tracked face
  around it, downscaled so the face is about ``face_px`` pixels (:class:`RoiDetector`). The
  shipped loop instead runs MTCNN on the full frame every 3rd frame and carries boxes between.

Both run next to a ``default`` row (the shipped configuration) through the same measurement as
``rtliveness bench`` (decode → … → overlay → encode), using only rtliveness' public API::

    python benchmarks/experiments.py --cases one --frames 60
"""

from __future__ import annotations

import argparse
import queue
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2

from rtliveness.bench import VARIANTS, Variant, format_table, make_random_checkpoint, torch_threads
from rtliveness.bench.measure import make_row
from rtliveness.bench.scenes import prepare_case
from rtliveness.bench.variants import TimedScorer, build_pipeline, run_variant, time_pipeline
from rtliveness.model.device import resolve_device
from rtliveness.runtime.overlay import draw_result
from rtliveness.runtime.pipeline import LivenessPipeline
from rtliveness.runtime.track import box_iou
from rtliveness.types import FaceBox

EXPERIMENTS = ("async-io", "roi")


class AsyncOutput:
    """The ``output`` of :func:`rtliveness.bench.measure.measure` with overlay + encode on a
    thread: ``put`` only enqueues (bounded, 8 frames); ``close`` drains and re-raises its error."""

    def __init__(self, sink, stages: dict) -> None:
        self.sink = sink
        self.stages = stages
        self.q: queue.Queue = queue.Queue(maxsize=8)
        self.error: BaseException | None = None
        self.t = threading.Thread(target=self._run, name="bench-writer", daemon=True)
        self.t.start()

    def _run(self) -> None:
        try:
            while (item := self.q.get()) is not None:
                image, result, fps = item
                t0 = time.perf_counter()
                drawn = draw_result(image, result, fps)
                t1 = time.perf_counter()
                self.sink.write_image(drawn)
                self.stages["overlay"] += t1 - t0
                self.stages["encode"] += time.perf_counter() - t1
        except BaseException as exc:  # reported by close()
            self.error = exc
            while self.q.get() is not None:  # keep draining so put() never blocks forever
                pass

    def put(self, image, result, fps) -> None:
        self.q.put((image, result, fps))

    def close(self) -> None:
        self.q.put(None)
        self.t.join()
        if self.error is not None:
            raise self.error


class RoiDetector:
    """A detector wrapper (the Detector protocol) for a pipeline with ``every_n=1``: full-frame
    detection when ``frame_index % every_n == 0`` or nothing is tracked, otherwise MTCNN only
    around the boxes of the previous result. The loop sets ``frame_index`` before each step and
    calls :meth:`follow` after it."""

    def __init__(self, inner, every_n: int = 10, roi_scale: float = 2.0, face_px: int = 64) -> None:
        self.inner = inner
        # the confidence a new face needs where ``inner`` also reports less sure boxes (MTCNN in
        # a pipeline: DetectorConfig.keep_confidence); the pipeline reads it from this wrapper
        self.new_face_confidence = getattr(inner, "new_face_confidence", None)
        self.every_n = every_n
        self.roi_scale = roi_scale
        self.face_px = face_px
        self.frame_index = 0
        self.frame_width: int | None = None
        self.boxes: tuple[FaceBox, ...] = ()

    def follow(self, frame, result) -> None:
        self.frame_width = frame.size[0]
        self.boxes = tuple(v.box for v in result.faces)

    def detect(self, image, region=None, min_face=None):
        if self.frame_index % self.every_n == 0 or not self.boxes or region is not None:
            return self.inner.detect(image, region=region, min_face=min_face)
        h, w = image.shape[:2]
        k = w / float(self.frame_width or w)  # the pipeline detects large frames on a downscaled copy
        found: list[FaceBox] = []
        for b in self.boxes:
            cx, cy = b.center[0] * k, b.center[1] * k
            side = self.roi_scale * max(b.width, b.height) * k
            x1, y1 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
            x2, y2 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
            if x2 - x1 < 12 or y2 - y1 < 12:
                continue
            sub = image[y1:y2, x1:x2]
            f = min(1.0, self.face_px / max(1.0, max(b.width, b.height) * k))
            if f < 1.0:
                sub = cv2.resize(sub, (max(12, round(sub.shape[1] * f)), max(12, round(sub.shape[0] * f))),
                                 interpolation=cv2.INTER_AREA)
            for d in self.inner.detect(sub):
                big = FaceBox(x1 + d.x1 / f, y1 + d.y1 / f, x1 + d.x2 / f, y1 + d.y2 / f, d.score).clipped(w, h)
                if big is not None and not any(box_iou(big, o) > 0.5 for o in found):
                    found.append(big)
        return tuple(found)

    def close(self) -> None:
        closer = getattr(self.inner, "close", None)
        if callable(closer):
            closer()


def run_async_io(video, weights, device, frames, warmup, work):
    pipe, timed = build_pipeline(VARIANTS["default"], weights, device)
    with pipe:
        return time_pipeline(pipe, timed, video, frames, warmup, work, output=AsyncOutput)


def run_roi(video, weights, device, frames, warmup, work, every_n=10, roi_scale=2.0, face_px=64):
    cfg = Variant("roi", detector={"every_n": 1}).config(weights, device)
    base = LivenessPipeline.from_config(cfg)
    roi = RoiDetector(base.detector, every_n=every_n, roi_scale=roi_scale, face_px=face_px)
    timed = TimedScorer(base.scorer)
    pipe = LivenessPipeline(roi, timed, threshold=base.threshold, detector_config=cfg.detector,
                            tracker_config=cfg.tracker)

    def step(frame):
        roi.frame_index = frame.index
        result = pipe.step(frame)
        roi.follow(frame, result)
        return result

    with pipe:
        return time_pipeline(pipe, timed, video, frames, warmup, work, step=step)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", help="video of the 'file' case (default examples/live_webcam.mov)")
    ap.add_argument("--cases", default="one", help="comma list of file, one, four")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--size", type=int, default=112, help="input size of the random-init checkpoint")
    ap.add_argument("--device", default="cpu", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--experiments", default=",".join(EXPERIMENTS), help=f"comma list of {', '.join(EXPERIMENTS)}")
    ap.add_argument("--roi-every", type=int, default=10, help="roi: full-frame detection every N-th frame")
    a = ap.parse_args(argv)
    device = resolve_device(a.device)
    exps = [e for e in a.experiments.split(",") if e]
    unknown = set(exps) - set(EXPERIMENTS)
    if unknown:
        ap.error(f"unknown experiments {sorted(unknown)}")
    rows, infos = [], []
    with tempfile.TemporaryDirectory(prefix="rtliveness-exp-") as tmp, torch_threads(None):
        work = Path(tmp)
        weights = make_random_checkpoint(work / f"random_{a.size}.pt", a.size)
        for case in a.cases.split(","):
            info = prepare_case(case, work, video=a.video, frames=a.warmup + a.frames + 2)
            if info is None:
                print(f"no video for the {case!r} case; skipped", file=sys.stderr)
                continue
            infos.append(info)
            video = Path(info["video"])
            print(f"{case}: default …", file=sys.stderr, flush=True)
            m, backend = run_variant(VARIANTS["default"], video, weights, device, a.frames, a.warmup, work)
            rows.append(make_row(case, device, a.size, "default", backend, m))
            for exp in exps:
                print(f"{case}: {exp} …", file=sys.stderr, flush=True)
                if exp == "async-io":
                    m = run_async_io(video, weights, device, a.frames, a.warmup, work)
                else:
                    m = run_roi(video, weights, device, a.frames, a.warmup, work, every_n=a.roi_every)
                rows.append(make_row(case, device, a.size, exp, backend, m))
    print(format_table({"rows": rows, "cases": infos}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
