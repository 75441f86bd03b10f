"""The liveness loop: frame → detect → track → crop → embed (once per crop) → 5-window head.

:class:`LivenessPipeline` is the only place the parts are wired together. It does no I/O of its
own: ``step`` takes a frame the host owns; ``run`` iterates a source the caller opened.
Every part is injected, so tests can use fakes for the detector and the scorer.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterator, Mapping

import numpy as np

from ..config import (LOW_LIGHT_TARGET, DetectorConfig, PipelineConfig, TrackerConfig, as_int,
                      check_low_light_target)
from ..errors import ClosedError, ConfigError, FrameError
from ..types import Frame, FrameResult, TrackSummary, Verdict, as_bgr
from ..model.device import keep_torch_threads
from .buffer import WindowBuffer
from .crop import crop_face
from .exposure import lift_low_light
from .decision import label_for
from .detect import Detector, build_detector, new_face_min, tracking_detector
from .scan import FaceScan, roi_regions
from .track import IouTracker

__all__ = ["LivenessPipeline", "StageTimes", "roi_regions"]

STAGES = ("detect", "track", "crop", "embed", "head")

#: the longest ``close()`` waits for a ``step`` running in another thread to end; a step still
#: running then releases the parts itself when it ends (close never hangs on a stuck step)
CLOSE_WAIT_S = 10.0


def _check_kwarg(ok: bool, name: str, value: object, want: str) -> None:
    """A :class:`ConfigError` naming the constructor argument ``name``, what it got and what it takes."""
    if not ok:
        raise ConfigError(f"LivenessPipeline: {name} must be {want}, got {value!r}")


def _record_arg(value, kind: type, name: str):
    """``value`` when it is a ``kind`` record or None, else :class:`ConfigError` (a string or a
    number here used to construct fine and fail on the first ``step`` as an AttributeError)."""
    _check_kwarg(value is None or isinstance(value, kind), name, value,
                 f"a {kind.__name__} (or None for the defaults), e.g. {kind.__name__}()")
    return value


def _count_arg(value, name: str, minimum: int, want: str) -> int:
    """``value`` as an int >= ``minimum`` (numpy integers and strings of digits too, as the
    config records take them: :func:`rtliveness.config.as_int`), else :class:`ConfigError`."""
    n = as_int(value)
    _check_kwarg(n is not None and n >= minimum, name, value, want)
    return n  # type: ignore[return-value]


def check_frame_source(source, who: str) -> None:
    """A :class:`ConfigError` for a source ``who`` cannot iterate as frames: a path, a URL or a
    camera index (a string was iterated letter by letter, a path or an index was a bare
    ``TypeError``) or one image (iterated row by row); it says to open it first."""
    import os

    if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
        spec = repr(int(source))
    elif isinstance(source, (str, os.PathLike)):
        spec = repr(os.fspath(source))
    else:
        spec = None
    if spec is not None:
        raise ConfigError(f"{who} takes frames, not the source {spec} itself: open it first, "
                          f"e.g. `with open_source({spec}) as src:` and pass src")
    if isinstance(source, (bytes, bytearray, memoryview)):
        raise ConfigError(f"{who} takes frames, not {type(source).__name__}: decode the picture first "
                          "(cv2.imdecode) or write it to a file and open_source() it")
    if isinstance(source, np.ndarray) and (source.ndim < 3 or (source.ndim == 3 and source.shape[-1] in (1, 3, 4))):
        # (H, W), (H, W, C): one image; (N, H, W) grey frames and (N, H, W, C) are a stack of frames
        raise ConfigError(f"{who} takes frames (an iterable of images), not one image of shape {source.shape}: "
                          "use step(image) for one frame, or pass [image]")


@dataclass
class StageTimes:
    """Seconds spent per stage, summed over the frames processed (for benchmarks)."""

    seconds: dict[str, float] = field(default_factory=lambda: {s: 0.0 for s in STAGES})
    frames: int = 0

    def add(self, stage: str, dt: float) -> None:
        self.seconds[stage] += dt


class _TrackStats:
    __slots__ = ("first", "last", "frames", "windows", "p_sum", "last_p")

    def __init__(self, first: int) -> None:
        self.first = first
        self.last = first
        self.frames = 0
        self.windows = 0
        self.p_sum = 0.0
        self.last_p: float | None = None


def _same_pixels(prev: np.ndarray, image: np.ndarray) -> bool:
    """``image`` holds ``prev``'s pixels in another array (a reused buffer proves nothing: the
    caller may have refilled it; the bounds check is fast and never a false "no")."""
    if prev.shape != image.shape or np.may_share_memory(prev, image):
        return False
    return bool(np.array_equal(prev[::31, ::31], image[::31, ::31]) and np.array_equal(prev, image))


class LivenessPipeline:
    """Per-face live/spoof verdicts for a stream of frames.

    Build it with :meth:`from_config` (loads weights, picks the device, builds MTCNN), or inject
    a detector and a scorer directly. Two pipelines share nothing.
    """

    def __init__(self, detector: Detector, scorer, threshold: float | None = None,
                 detector_config: DetectorConfig | None = None, tracker_config: TrackerConfig | None = None,
                 max_summaries: int = 10_000, security: str | None = None, cpu_threads: int | None = None,
                 low_light_target: float = LOW_LIGHT_TARGET, repeat_identical: bool = True) -> None:
        # wrong kinds fail here, at the call, not as an AttributeError (or torch's RuntimeError)
        # on the first step
        detector_config = _record_arg(detector_config, DetectorConfig, "detector_config")
        tracker_config = _record_arg(tracker_config, TrackerConfig, "tracker_config")
        if cpu_threads is not None:  # PipelineConfig's rule: 0 leaves torch's setting alone
            cpu_threads = _count_arg(cpu_threads, "cpu_threads", 0, "an integer >= 0 "
                                     "(0 or None = leave torch's setting alone)") or None
        max_summaries = _count_arg(max_summaries, "max_summaries", 0, "an integer >= 0")
        self.detector_config = detector_config or DetectorConfig()
        # MTCNN also reports the less sure boxes that keep a tracked face (DetectorConfig.keep_confidence);
        # close() closes the detector given and that view of it
        self._given_detector = detector
        self.detector = tracking_detector(detector, self.detector_config.keep_confidence)
        # a frame identical to the previous one, every face in it decided: the previous verdicts
        # again (step's docstring); off only for tests that drive the loop with identical frames
        self.repeat_identical = repeat_identical
        self.low_light_target = check_low_light_target(low_light_target)
        self.cpu_threads = cpu_threads  # PyTorch threads kept in the thread that runs step() (None: left alone)
        self.scorer = scorer
        self.meta = scorer.meta
        self.threshold = self.meta.operating_threshold(threshold, security)
        self.tracker = IouTracker(tracker_config)
        self.scan = FaceScan(self.detector_config, self.tracker)
        self.buffer = WindowBuffer(self.meta.window)
        self.timings = StageTimes()
        self._stats: OrderedDict[int, _TrackStats] = OrderedDict()
        self._max_summaries = max_summaries
        self._last_p: dict[int, float] = {}
        self._epoch = 0
        self._frames_seen = 0
        self._since_detect = 0  # frames since the last detector run
        self._gap = self.detector_config.every_n  # frames from the last detector run to the next
        # the previous frame's image and result, and whether a detector run on those very pixels
        # found every face in it (a box carried onto a changed picture never is)
        self._last: tuple[np.ndarray, FrameResult, bool] | None = None
        self._closed = False
        # one thread steps at a time (acquired without waiting: a second thread is refused);
        # close() waits for a step in flight, so the parts never vanish under it
        self._step_lock = threading.Lock()
        self._stepper: int | None = None  # the thread id of the step in flight
        self._handoff = threading.Lock()  # who releases the parts when close() did not wait for a step
        self._release_on_step_end = False

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_config(cls, config: PipelineConfig | None = None) -> "LivenessPipeline":
        """Load the weights (bundled by default), resolve the device, build the detector.

        The backend and the detector come from their registries
        (:func:`rtliveness.model.backends.register_backend`,
        :func:`rtliveness.runtime.detect.register_detector`)."""
        from ..model.backends import BackendSpec, build_scorer
        from ..model.device import resolve_device

        config = PipelineConfig() if config is None else config
        if not isinstance(config, PipelineConfig):
            raise ConfigError(f"from_config takes a PipelineConfig (or None for the defaults), got {config!r}; "
                              "e.g. LivenessPipeline.from_config(PipelineConfig(security='balanced'))")
        device = resolve_device(config.device)
        if device == "cpu" and config.cpu_threads:
            import torch

            torch.set_num_threads(config.cpu_threads)
        spec = BackendSpec(weights=config.weights, device=device, verify_checksum=config.verify_checksum)
        scorer = build_scorer(config.backend, spec)
        detector = build_detector(config.detector, device=device)
        return cls(detector, scorer, threshold=config.threshold, detector_config=config.detector,
                   tracker_config=config.tracker, security=config.security,
                   low_light_target=config.low_light_target,
                   cpu_threads=config.cpu_threads if device == "cpu" and config.cpu_threads else None)

    # ------------------------------------------------------------------ the loop
    def reset(self) -> None:
        """Forget every track and window (e.g. after a stream gap, a scene change or between two
        clips): the next face is ``pending`` until it has a window of its own. Frame indices, the
        default timestamps (the frame count) and track ids keep counting, so they stay unique over
        the pipeline's life, and :meth:`track_summaries` keeps the tracks already seen; pass
        :class:`Frame` objects to number each clip yourself. ``reset()`` after :meth:`close` is a
        :class:`ClosedError`."""
        self._enter("reset()")
        try:
            self._forget()
        finally:
            self._leave()

    def _enter(self, who: str) -> None:
        """Take the step lock for ``who`` (``step()``, ``reset()``) without waiting: a
        :class:`ClosedError` after :meth:`close`, a :class:`ConfigError` while another thread
        steps this pipeline (their tracks would mix)."""
        if self._closed:
            raise ClosedError(f"pipeline is closed: {who} after close(); build a new one with LivenessPipeline.from_config")
        if not self._step_lock.acquire(blocking=False):
            if self._closed:  # close() holds it while it releases the parts
                raise ClosedError(f"pipeline is closed: {who} after close(); build a new one with "
                                  "LivenessPipeline.from_config")
            raise ConfigError(f"{who} while another thread is in step(): this pipeline is being stepped by another "
                              "thread; use one pipeline per thread")
        if self._closed:  # closed between the check and the lock
            self._step_lock.release()
            raise ClosedError(f"pipeline is closed: {who} after close(); build a new one with LivenessPipeline.from_config")
        self._stepper = threading.get_ident()

    def _leave(self) -> None:
        """Give the step lock back; release the parts if :meth:`close` came meanwhile and left that
        to this step (it did not wait for it)."""
        self._stepper = None
        with self._handoff:
            self._step_lock.release()
            release, self._release_on_step_end = self._release_on_step_end, False
        if release:
            self._release_parts()

    def _forget(self) -> None:
        self._last = None
        self.tracker.reset()
        self.tracker.pop_evicted()
        self.buffer.clear()
        self._last_p.clear()
        self._since_detect = 0
        self._gap = self.detector_config.every_n
        self.scan.reset()

    def step(self, frame: Frame | np.ndarray, timestamp: float | None = None) -> FrameResult:
        """Process one frame (a :class:`Frame` or a gray/BGR/BGRA uint8 array; ``timestamp`` in
        seconds for an array, default: the frame count).

        A frame identical to the previous one while every face in view already has a verdict
        (a photo given again, a duplicated video frame) gets the previous verdicts again, boxes
        and p_spoof unchanged: nothing new was seen, so no new window is scored. A photo's first
        verdict comes on its 5th call, as ``rtliveness run photo.jpg`` gives it. A frame of
        another size than the previous one starts afresh, as after :meth:`reset`."""
        self._enter("step()")
        try:
            return self._step_frame(frame, timestamp)
        finally:
            self._leave()

    def _step_frame(self, frame: Frame | np.ndarray, timestamp: float | None) -> FrameResult:
        frame = self._frame_of(frame, timestamp)
        if frame.epoch != self._epoch:
            self._epoch = frame.epoch
            self._forget()
        elif self._last is not None and self._last[0].shape != frame.image_bgr.shape:
            # another picture size is another picture (a camera switched, a phone turned, a
            # stream renegotiated): boxes of the old one mean nothing on it, so tracks and windows
            # end and the detector looks at once (ids keep counting, as after reset())
            self._forget()
        self._frames_seen += 1
        self.timings.frames += 1
        if self.cpu_threads is not None:
            keep_torch_threads(self.cpu_threads)
        image = frame.image_bgr
        last = self._last
        # the previous frame's pixels again (compared once, and only where it matters): its
        # verdicts are repeated when every face in it is decided; boxes the tracker only carried
        # onto them, only until the detector's next scheduled run, which looks again (a person
        # who left on a frame without a detector run, the picture then frozen — a stalled
        # camera, a still end slate — is dropped there instead of staying a verdict for nobody)
        decided = last is not None and bool(last[1].faces) and all(v.p_spoof is not None for v in last[1].faces)
        same = (self.repeat_identical and last is not None and (decided or last[2])
                and _same_pixels(last[0], image))
        repeat = same and decided
        if repeat and not last[2]:
            if self._since_detect + 1 >= self._gap:
                repeat = False
            else:
                self._since_detect += 1
        if repeat:
            for v in last[1].faces:
                self._record(v.track_id, frame.index, None)
            result = FrameResult(frame.index, frame.timestamp, last[1].faces, detected=False, repeated=True)
            confirmed = last[2]
        else:
            result = self._step(frame, image)
            # confirmed: a detector run on this frame, or on the previous one's very pixels
            confirmed = result.detected or (same and last[2])
        self._last = (image, result, confirmed)
        return result

    def _frame_of(self, frame: Frame | np.ndarray, timestamp: float | None = None) -> Frame:
        """``frame`` as the :class:`Frame` :meth:`step` processes: an array numbered and timed as
        the next frame (``timestamp`` in seconds, default: the frame count)."""
        if isinstance(frame, Frame):
            if timestamp is not None:
                raise FrameError(f"step() got a Frame and timestamp={timestamp!r}: a Frame carries its own timestamp; "
                                 "pass one or the other")
            return frame
        image = as_bgr(frame)
        ts = timestamp if timestamp is not None else float(self._frames_seen)  # Frame checks it (as_timestamp)
        return Frame(self._frames_seen, image, ts, self._epoch)

    def _step(self, frame: Frame, image: np.ndarray) -> FrameResult:
        """Detect (or carry), crop, embed and score one frame that is not a repeat."""
        h, w = image.shape[:2]
        t0 = time.perf_counter()
        detect_now = self._since_detect + 1 >= self._gap or not self.tracker.active_ids
        boxes = self.scan.run(self.detector, image) if detect_now else None
        t1 = time.perf_counter()
        tracks = self.tracker.update(boxes, w, h, new_min=new_face_min(self.detector))
        if detect_now:
            self._since_detect = 0
            self._gap = self._next_gap()
        else:
            self._since_detect += 1
        gone = set(self.tracker.pop_evicted())
        if boxes is not None:
            # a track the detector missed this time keeps its id but not its window: a window
            # never spans a gap, every verdict comes from 5 consecutive frames
            seen = {t.track_id for t in tracks}
            gone.update(tid for tid in self.tracker.active_ids if tid not in seen)
        for tid in gone:
            self.buffer.drop((tid,))
            self._last_p.pop(tid, None)
        t2 = time.perf_counter()
        size, scale = self.meta.input_size, self.meta.crop_scale
        crops = [lift_low_light(crop_face(image, t.box, scale, size), self.low_light_target) for t in tracks]
        t3 = time.perf_counter()
        emb = self.scorer.embed(crops) if crops else None
        t4 = time.perf_counter()
        full_ids: list[int] = []
        windows: list[np.ndarray] = []
        jump = self.tracker.config.restart_distance
        for i, t in enumerate(tracks):
            moved = self.buffer.distance_to_last(t.track_id, emb[i]) if jump is not None else None
            if moved is not None and moved > jump:  # another face in the box (TrackerConfig): its window restarts
                self.buffer.drop((t.track_id,))
                self._last_p.pop(t.track_id, None)
            win = self.buffer.push(t.track_id, emb[i])
            if win is not None:
                full_ids.append(t.track_id)
                windows.append(win)
        scored_now: set[int] = set()
        if windows:
            probs = self.scorer.head(np.stack(windows))
            for tid, p in zip(full_ids, probs):
                p = float(p)
                if math.isfinite(p):
                    self._last_p[tid] = min(1.0, max(0.0, p))
                    scored_now.add(tid)
                else:  # a non-finite score never reaches a verdict: back to pending
                    self._last_p.pop(tid, None)
        t5 = time.perf_counter()
        for name, dt in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            self.timings.add(name, dt)

        verdicts = []
        for t in tracks:
            p = self._last_p.get(t.track_id)
            if p is None:
                verdicts.append(Verdict(t.track_id, t.box, None, "pending"))
            else:
                verdicts.append(Verdict(t.track_id, t.box, p, label_for(p, self.threshold)))
            self._record(t.track_id, frame.index, p if t.track_id in scored_now else None)
        return FrameResult(frame.index, frame.timestamp, tuple(verdicts), detected=detect_now)

    def _next_gap(self) -> int:
        """Frames until the next detector run, decided after each run: ``steady_every`` while
        every track is steady (see :meth:`IouTracker.steady`), else ``every_n``."""
        cfg = self.detector_config
        return cfg.steady_gap() if self.tracker.steady(cfg.steady_iou) else cfg.every_n

    def _record(self, tid: int, frame_index: int, p_new: float | None) -> None:
        st = self._stats.get(tid)
        if st is None:
            st = self._stats[tid] = _TrackStats(frame_index)
            while len(self._stats) > self._max_summaries:
                self._stats.popitem(last=False)  # the least recently seen track
        else:
            self._stats.move_to_end(tid)
        st.last = frame_index
        st.frames += 1
        if p_new is not None:
            st.windows += 1
            st.p_sum += p_new
            st.last_p = p_new

    def run_frames(self, source) -> Iterator[tuple[Frame, FrameResult]]:
        """Iterate ``source`` (any iterable of :class:`Frame` objects or images, as :meth:`step`
        takes them), yielding (the :class:`Frame` processed, its result). A source that is not
        frames (:func:`check_frame_source`) is refused here, at the call."""
        check_frame_source(source, "run()")
        return self._frames_of(source)

    def _frames_of(self, source) -> Iterator[tuple[Frame, FrameResult]]:
        for item in source:
            frame = self._frame_of(item)
            yield frame, self.step(frame)

    def run(self, source) -> Iterator[FrameResult]:
        """Iterate ``source``, yielding one :class:`FrameResult` per frame (refused at the call as
        :meth:`run_frames` says)."""
        return (result for _, result in self.run_frames(source))

    # ------------------------------------------------------------------ results
    def track_summaries(self, track_ids=None, since: dict | None = None) -> tuple[TrackSummary, ...]:
        """Per-track verdict over everything seen (or over the tracks ``track_ids`` only: one
        clip's, without sorting up to ``max_summaries`` earlier ones): the mean p_spoof of its
        scored windows; by track id (the order tracks appeared in). ``since``: a
        :meth:`summary_mark` taken before a clip: a track that was already there counts only
        what came after it (a pipeline reused without ``reset()`` carries a track from one clip
        into the next), its first frame then ``track_ids[id]`` where ``track_ids`` is a mapping."""
        out = []
        ids = self._stats.keys() if track_ids is None else (t for t in track_ids if t in self._stats)
        for tid in sorted(ids):
            st = self._stats[tid]
            first, frames, windows, p_sum = st.first, st.frames, st.windows, st.p_sum
            before = None if since is None else since.get(tid)
            if before is not None and before[0] is st:  # (not a record made anew since: its counts are its own)
                frames, windows, p_sum = frames - before[1], windows - before[2], p_sum - before[3]
                first = track_ids[tid] if isinstance(track_ids, Mapping) else first
            mean = p_sum / windows if windows else None
            label = "pending" if mean is None else label_for(mean, self.threshold)
            out.append(TrackSummary(tid, first, st.last, frames, windows, mean, label))
        return tuple(out)

    def summary_mark(self) -> dict:
        """Where every track's counts stand now, for :meth:`track_summaries`' ``since``."""
        return {tid: (st, st.frames, st.windows, st.p_sum) for tid, st in self._stats.items()}

    @property
    def open_tracks(self) -> int:
        return len(self.tracker.active_ids)

    def close(self) -> None:
        """Release everything the pipeline holds: windows, tracks, the scorer (model, ONNX
        sessions) and the detector (MTCNN). Idempotent; ``step`` fails afterwards.

        Safe from another thread (a kiosk's UI thread closing while its camera thread steps): a
        step in flight finishes first (close waits for it, at most ``CLOSE_WAIT_S`` seconds; a
        step still running then releases the parts itself when it ends), and the stepping thread's
        next ``step`` is a :class:`ClosedError`."""
        with self._handoff:
            if self._closed:
                return
            self._closed = True
        # called from inside a step of this very thread (a signal handler, a callback): waiting
        # would never end, the step releases the parts when it returns
        mine = self._stepper == threading.get_ident()
        got = False if mine else self._step_lock.acquire(timeout=CLOSE_WAIT_S)
        if not got:
            with self._handoff:
                got = self._step_lock.acquire(blocking=False)  # it ended meanwhile
                if not got:
                    self._release_on_step_end = True
                    return
        try:
            self._release_parts()
        finally:
            self._step_lock.release()

    def _release_parts(self) -> None:
        self._forget()
        view = self.detector if self.detector is not self._given_detector else None
        for part in (self.scorer, self._given_detector, view):
            closer = getattr(part, "close", None)
            if callable(closer):
                closer()
        self.scorer = None
        self.detector = self._given_detector = None

    def __enter__(self) -> "LivenessPipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
