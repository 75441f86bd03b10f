"""One scorer shared by many streams: embed calls from several threads merged into one batch.

The service (one pipeline per WebSocket connection or upload) and the fleet's scorer actors
hold one model and many callers. :class:`BatchingScorer` queues every ``embed(crops)`` call;
a worker thread takes the first waiting call, gathers the calls that arrive within
``max_wait_s`` (up to ``max_batch`` crops), embeds them in one backend call and hands each
caller its rows. ``head`` calls are merged the same way. Each pipeline gets its own
:meth:`BatchingScorer.client` (a :class:`~rtliveness.model.backends.Scorer` whose ``close`` does
not close the shared model).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from concurrent.futures import Future
from typing import Sequence

import numpy as np

from .dims import EMBED_DIM

__all__ = ["BatchingScorer", "BatchStats"]


class BatchStats:
    """Histograms of the merged calls: how many callers and how many rows each backend call had."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[int] = Counter()  # callers merged per backend call -> count
        self.rows: Counter[int] = Counter()  # rows (crops or windows) per backend call -> count

    def add(self, callers: int, rows: int) -> None:
        with self._lock:
            self.calls[callers] += 1
            self.rows[rows] += 1

    def to_json(self) -> dict:
        with self._lock:
            calls, rows = dict(self.calls), dict(self.rows)
        n = sum(calls.values())
        return {
            "batches": n,
            "max_callers": max(calls, default=0),
            "mean_callers": round(sum(k * v for k, v in calls.items()) / n, 3) if n else 0.0,
            "mean_rows": round(sum(k * v for k, v in rows.items()) / n, 3) if n else 0.0,
            "callers_histogram": {str(k): calls[k] for k in sorted(calls)},
        }


class _Lane:
    """One merged call type (embed or head): a queue and its worker thread. Once stopped, a call
    raises :class:`~rtliveness.errors.ClosedError` (it waited for ever on the stopped worker)."""

    #: how long ``stop`` waits for the worker to finish the calls queued before it
    STOP_WAIT_S = 5.0

    def __init__(self, name: str, fn, max_rows: int, max_wait_s: float, empty: np.ndarray) -> None:
        self.name = name
        self.fn = fn
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.empty = empty
        self.stats = BatchStats()
        self._q: queue.Queue = queue.Queue()
        self._lock = threading.Lock()  # a call is queued before the stop marker, or refused
        self._stopped = False
        self._thread = threading.Thread(target=self._work, name=f"rtliveness-batch-{name}", daemon=True)
        self._thread.start()

    def submit(self, rows) -> np.ndarray:
        if len(rows) == 0:
            return self.empty.copy()
        fut: Future = Future()
        with self._lock:
            if self._stopped:
                raise self._closed_error()
            self._q.put((rows, fut))
        return fut.result()

    def _closed_error(self):
        from ..errors import ClosedError

        return ClosedError(f"the shared scorer is closed: {self.name}() after close(); build a new BatchingScorer")

    def _gather(self, first) -> list:
        items = [first]
        n = len(first[0])
        deadline = time.monotonic() + self.max_wait_s
        while n < self.max_rows:
            left = deadline - time.monotonic()
            try:
                item = self._q.get(timeout=left) if left > 0 else self._q.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._q.put(None)  # keep the stop marker for the loop
                break
            items.append(item)
            n += len(item[0])
        return items

    def _work(self) -> None:
        while True:
            first = self._q.get()
            if first is None:
                return
            items = self._gather(first)
            try:
                if isinstance(items[0][0], np.ndarray):
                    out = self.fn(np.concatenate([r for r, _ in items]))
                else:
                    out = self.fn([row for r, _ in items for row in r])
            except BaseException as exc:  # noqa: BLE001 - every caller gets the error
                for _, fut in items:
                    fut.set_exception(exc)
                continue
            self.stats.add(len(items), len(out))
            start = 0
            for r, fut in items:
                fut.set_result(out[start:start + len(r)])
                start += len(r)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._q.put(None)
        self._thread.join(timeout=self.STOP_WAIT_S)
        if self._thread.is_alive():  # its backend call still runs: the calls queued behind it fail, not wait for ever
            while True:
                try:
                    item = self._q.get_nowait()
                except queue.Empty:  # the worker took the stop marker meanwhile
                    break
                if item is None:  # the stop marker comes last
                    break
                item[1].set_exception(self._closed_error())
            self._q.put(None)  # for the worker, should its call end after all


class _Client:
    """What one pipeline holds: the shared scorer's calls, and a ``close`` that leaves it open."""

    def __init__(self, owner: "BatchingScorer") -> None:
        self._owner = owner
        self.meta = owner.meta

    def _shared(self) -> "BatchingScorer":
        if self._owner is None:
            from ..errors import ClosedError

            raise ClosedError("this scorer client is closed (its pipeline was closed); ask the shared scorer for a new client")
        return self._owner

    def embed(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        return self._shared().embed(crops_bgr)

    def head(self, windows: np.ndarray) -> np.ndarray:
        return self._shared().head(windows)

    def close(self) -> None:
        self._owner = None  # type: ignore[assignment]


class BatchingScorer:
    """Merge concurrent ``embed``/``head`` calls of many pipelines into shared batches.

    ``max_batch`` bounds the crops per backend call; ``max_wait_s`` is how long the first caller
    waits for others to join. The default, 0, adds no latency: calls that arrive while the
    backend is busy queue up and go together in the next call (continuous batching), so batches
    grow with load and a lone stream is never held back."""

    def __init__(self, scorer, max_batch: int = 32, max_wait_s: float = 0.0) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.inner = scorer
        self.meta = scorer.meta
        self._embed = _Lane("embed", scorer.embed, max_batch, max_wait_s, np.zeros((0, EMBED_DIM), np.float32))
        self._head = _Lane("head", scorer.head, max_batch * 4, max_wait_s, np.zeros((0,), np.float64))
        self._closed = False

    def embed(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        return self._embed.submit(list(crops_bgr))

    def head(self, windows: np.ndarray) -> np.ndarray:
        return self._head.submit(np.asarray(windows, np.float32))

    def client(self) -> _Client:
        return _Client(self)

    def stats(self) -> dict:
        return {"embed": self._embed.stats.to_json(), "head": self._head.stats.to_json()}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._embed.stop()
        self._head.stop()
        closer = getattr(self.inner, "close", None)
        if callable(closer):
            closer()
