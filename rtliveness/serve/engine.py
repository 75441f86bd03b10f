"""The service's shared state, without HTTP: one model and one detector for every stream.

Each stream (a WebSocket connection or an upload) gets its own :class:`LivenessPipeline` —
its own tracks and windows — built on a client of one :class:`BatchingScorer`, so crops of all
streams are embedded in shared batches. Stream slots bound how many run at once.
"""

from __future__ import annotations

import threading
from pathlib import Path

from .. import __version__
from ..runtime.decision import DECISION_MARGIN, DECISION_WINDOWS, decision_bounds
from .config import ServeConfig

__all__ = ["Engine", "Busy"]


class Busy(Exception):
    """Every stream slot is taken (HTTP 503 / WebSocket close code 1013)."""


class ShuttingDown(Exception):
    """The server is stopping (SIGTERM / Ctrl+C): an analysis in progress ends with 503."""


def _open_video(path: Path):
    """The video's capture (handed to :class:`FileSource`, so the file is opened once) and its
    frames' (pixels, "WxH") as the container declares them, read before any frame is decoded;
    None for the size when OpenCV cannot open it (``FileSource`` then says why)."""
    import cv2

    from ..runtime.sources.files import open_video

    cap = open_video(path)  # as `run` opens a file (its name and MJPEG rules)
    if not cap.isOpened():
        return cap, None
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    return cap, ((w * h, f"{w}x{h}") if w > 0 and h > 0 else None)


class ClientGone(Exception):
    """The client of an upload disconnected: its analysis ends between two frames and frees its slot."""


class Engine:
    """Loads the model once; hands out pipelines and stream slots; analyses uploaded videos."""

    def __init__(self, config: ServeConfig, scorer=None, detector=None) -> None:
        from ..model.batching import BatchingScorer
        from ..runtime.detect import SharedDetector

        self.config = config
        self.device = "cpu"
        self.backend = None if scorer is None else type(scorer).__name__  # a host's own scorer: its class
        if scorer is None or detector is None:
            from ..model.backends import BackendSpec, build_scorer, choose_backend
            from ..model.device import resolve_device
            from ..runtime.detect import build_detector

            self.device = resolve_device(config.device)
            if scorer is None:
                self.backend = choose_backend(config.backend, self.device)  # as --backend names it: onnx, torch …
                scorer = build_scorer(self.backend, BackendSpec(weights=config.weights, device=self.device))
            if detector is None:
                detector = build_detector(config.detector, device=self.device)
        self.meta = scorer.meta
        self.threshold = self.meta.operating_threshold(config.threshold, config.security)
        self.scorer = BatchingScorer(scorer, max_batch=config.max_batch)
        self._detector = detector
        self._shared_detector = SharedDetector(detector)
        self._lock = threading.Lock()
        self.stopping = threading.Event()  # set when the server begins to shut down
        self._active = 0
        self.streams_served = 0

    # ------------------------------------------------------------------ slots
    def acquire(self) -> None:
        """Take a stream slot or raise :class:`Busy`."""
        with self._lock:
            if self._active >= self.config.max_streams:
                raise Busy(f"all {self.config.max_streams} stream slots are in use; retry later")
            self._active += 1
            self.streams_served += 1

    def release(self) -> None:
        with self._lock:
            self._active = max(0, self._active - 1)

    # ------------------------------------------------------------------ pipelines
    def pipeline(self):
        """A new pipeline with its own tracks and windows on the shared model and detector."""
        from ..runtime.pipeline import LivenessPipeline

        return LivenessPipeline(self._shared_detector, self.scorer.client(), threshold=self.threshold,
                                detector_config=self.config.detector, tracker_config=self.config.tracker,
                                low_light_target=self.config.low_light_target)

    def analyze(self, path: Path, name: str, frames: bool = False, gone: threading.Event | None = None) -> dict:
        """Run an uploaded video — or photo, a still scene of one window — through a fresh
        pipeline: ``{"summary": ...}`` exactly as the last line of ``rtliveness run --jsonl``
        (plus ``"frames"`` when asked). Raises :class:`~rtliveness.errors.SourceOpenError` for a
        file that is not a readable video or photo, or whose pictures are over
        :data:`~rtliveness.serve.stream.MAX_FRAME_PIXELS` (a photo's size is read from its header,
        before it is decoded); :class:`ClientGone` once ``gone`` is set (the client left)."""
        from ..errors import SourceError, SourceOpenError
        from ..runtime.app import process_source
        from ..runtime.sources import FileSource, StillSource, is_still_image
        from .stream import declared_pixels, too_many_pixels

        records: list[dict] = []

        def on_result(result) -> None:
            if self.stopping.is_set():  # end between frames, so the client gets a 503, not a cut connection
                raise ShuttingDown("the service is shutting down; send the upload again when it is back")
            if gone is not None and gone.is_set():
                raise ClientGone(f"the client of {name} disconnected")
            if frames:
                records.append(result.to_json())

        still = is_still_image(path)
        declared = declared_pixels(path)  # a photo, a GIF or animated PNG, an MJPEG stream's first JPEG
        capture = None
        if declared is None and not still:
            capture, declared = _open_video(path)  # from the container, before any frame is decoded
        problem = None if declared is None else too_many_pixels(*declared, what="image" if still else "video frame")
        if problem is not None:
            if capture is not None:
                capture.release()
            raise SourceOpenError(problem)
        try:
            src = StillSource(path) if still else FileSource(path, capture=capture)
        except SourceError as exc:  # name the upload, not the temporary file
            raise type(exc)(str(exc).replace(str(path), name)) from None
        with src:
            src.name = name
            with self.pipeline() as pipe:
                report = process_source(pipe, src, on_result=on_result)
        out: dict = {"summary": report.to_json()}
        if frames:
            out["frames"] = records
        return out

    # ------------------------------------------------------------------ info
    def health(self) -> dict:
        m = self.meta
        live_below, spoof_from = decision_bounds(self.threshold, DECISION_MARGIN)
        return {
            "status": "ok",
            "version": __version__,
            "model": {
                "threshold": round(self.threshold, 6),
                "security": None if self.config.threshold is not None else self.config.security,
                "security_levels": {k: round(v, 6) for k, v in m.security_levels},
                "window": m.window,
                "input_size": m.input_size,
                "backend": self.backend,
                "device": self.device,
                "detector": self.config.detector.kind,
                "low_light_target": self.config.low_light_target,
                "restart_distance": self.config.tracker.restart_distance,
            },
            "decision": {"windows": DECISION_WINDOWS, "margin": DECISION_MARGIN,
                         "live_below": round(live_below, 6), "spoof_from": round(spoof_from, 6),
                         "timeout_s": self.config.decision_timeout_s},
            "streams": {"active": self._active, "max": self.config.max_streams, "served": self.streams_served},
            "batching": self.scorer.stats(),
        }

    def close(self) -> None:
        self.scorer.close()
        closer = getattr(self._detector, "close", None)
        if callable(closer):
            closer()
