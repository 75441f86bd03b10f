"""The fleet's Ray actors. Imported only by the controller, after Ray is.

* :class:`ScorerActor` — holds the model; stateless; a threaded actor whose concurrent
  ``embed``/``head`` calls (from every stream of every worker) are merged into shared batches by
  :class:`~rtliveness.model.batching.BatchingScorer`. A pool of them (one per GPU, say) serves
  all workers; a stream always uses the same one.
* :class:`StreamWorker` — owns streams: the detector, the trackers and the windows live here.
  Restarted by Ray when its process dies (``max_restarts=-1``); the controller then gives it
  back its streams as a new epoch.
"""

from __future__ import annotations

import os
import uuid
import zlib

import ray

from ..config import DetectorConfig, TrackerConfig
from .runner import StreamRunner, StreamSpec, drain_runners

__all__ = ["ScorerActor", "StreamWorker", "RemoteScorer"]


@ray.remote(max_concurrency=64, max_restarts=-1)
class ScorerActor:
    def __init__(self, weights: str | None, device: str, backend: str, max_batch: int,
                 max_wait_s: float = 0.0) -> None:
        from pathlib import Path

        from ..model.backends import BackendSpec, build_scorer
        from ..model.batching import BatchingScorer
        from ..model.device import resolve_device

        self.incarnation = uuid.uuid4().hex  # a restart starts its statistics again: the driver tells them apart
        spec = BackendSpec(weights=None if weights is None else Path(weights), device=resolve_device(device))
        self.scorer = BatchingScorer(build_scorer(backend, spec), max_batch=max_batch, max_wait_s=max_wait_s)

    def meta(self):
        return self.scorer.meta

    def embed(self, crops):
        return self.scorer.embed(crops)

    def head(self, windows):
        return self.scorer.head(windows)

    def stats(self) -> dict:
        """This incarnation's batch statistics (counted from its start) and the incarnation."""
        return {"incarnation": self.incarnation, **self.scorer.stats()}


class RemoteScorer:
    """The :class:`~rtliveness.model.backends.Scorer` a worker's pipelines use: calls a scorer
    actor. A scorer whose process or node died is restarted by Ray; calls wait for it (up to
    ``patience_s``) instead of failing the stream."""

    def __init__(self, actor, meta, patience_s: float = 120.0) -> None:
        self._actor = actor
        self.meta = meta
        self.patience_s = patience_s

    def _call(self, method: str, arg):
        import time

        deadline = time.monotonic() + self.patience_s
        delay = 0.2
        while True:
            try:
                return ray.get(getattr(self._actor, method).remote(arg))
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(2.0, delay * 2)

    def embed(self, crops_bgr):
        return self._call("embed", list(crops_bgr))

    def head(self, windows):
        return self._call("head", windows)

    def close(self) -> None:
        pass


@ray.remote(max_restarts=-1, max_concurrency=16)
class StreamWorker:
    def __init__(self, scorer_names: list[str], detector: DetectorConfig, threshold: float | None,
                 security: str | None, device: str, *, low_light_target: float,
                 tracker: TrackerConfig | None = None) -> None:
        from ..model.device import resolve_device
        from ..runtime.detect import SharedDetector, build_detector

        self.incarnation = uuid.uuid4().hex
        # looked up by name (not passed as handles) so a restart needs nothing from the object store
        scorers = [ray.get_actor(n) for n in scorer_names]
        self.scorers = scorers
        self.detector_config = detector
        self.meta = ray.get(scorers[0].meta.remote())
        self.threshold = self.meta.operating_threshold(threshold, security)
        self.low_light_target = low_light_target
        self.tracker_config = tracker or TrackerConfig()
        self.detector = SharedDetector(build_detector(detector, device=resolve_device(device)))
        self.runners: dict[str, StreamRunner] = {}

    def info(self) -> dict:
        return {"incarnation": self.incarnation, "pid": os.getpid(),
                "node": ray.get_runtime_context().get_node_id(), "streams": sorted(self.runners)}

    def add(self, spec: StreamSpec) -> str:
        old = self.runners.get(spec.name)
        if old is not None and old.running:
            if old.spec.epoch == spec.epoch:  # the same request again
                return self.incarnation
            old.stop()  # an earlier epoch, moved away from here while this worker was unreachable: replaced
        scorer = self.scorers[zlib.crc32(spec.name.encode()) % len(self.scorers)]

        def pipeline():
            from ..runtime.pipeline import LivenessPipeline

            return LivenessPipeline(self.detector, RemoteScorer(scorer, self.meta), threshold=self.threshold,
                                    detector_config=self.detector_config, tracker_config=self.tracker_config,
                                    low_light_target=self.low_light_target)

        self.runners[spec.name] = StreamRunner(spec, pipeline).start()
        return self.incarnation

    def drain_all(self, acks: dict | None = None, forget=()) -> dict:
        """``{"incarnation", "streams": {name: drain report}}`` (see :func:`drain_runners`)."""
        return {"incarnation": self.incarnation, "streams": drain_runners(self.runners, acks, forget)}

    def stop(self, name: str, epoch: int | None = None) -> None:
        """Stop stream ``name`` (only its run of ``epoch``, when given: a newer one is not touched)."""
        runner = self.runners.get(name)
        if runner is not None and epoch in (None, runner.spec.epoch):
            runner.stop()

    def stop_all(self, timeout: float = 10.0) -> None:
        """Stop every stream together: each is told first, then all are waited for (one at a time,
        a dead camera's close, 10-15 s, delayed every other stream of this worker)."""
        import time

        runners = list(self.runners.values())
        for runner in runners:
            runner.request_stop()
        deadline = time.monotonic() + timeout
        for runner in runners:
            runner.join(deadline=deadline)
