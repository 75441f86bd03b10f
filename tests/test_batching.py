"""The shared batched scorer: concurrent callers merged into one backend call, each gets its rows."""

import threading
import time

import numpy as np
import pytest

from conftest import FakeScorer
from rtliveness.model.batching import BatchingScorer


class SlowScorer(FakeScorer):
    """Records each backend call's size; slow enough that callers queue up behind it."""

    def __init__(self):
        super().__init__()
        self.calls = []
        self.gate = threading.Event()

    def embed(self, crops):
        self.gate.wait(5)
        self.calls.append(len(crops))
        return super().embed(crops)


def test_concurrent_embeds_share_batches_and_get_their_own_rows():
    inner = SlowScorer()
    scorer = BatchingScorer(inner, max_batch=64, max_wait_s=0.05)
    results = {}

    def caller(k):
        crops = [np.full((16, 16, 3), 10 * k + j, np.uint8) for j in range(k + 1)]
        results[k] = scorer.client().embed(crops)

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    inner.gate.set()
    for t in threads:
        t.join(10)
    for k in range(6):  # each caller gets exactly its own crops' embeddings, in order
        assert results[k].shape == (k + 1, 512)
        assert [float(r[0]) for r in results[k]] == [10.0 * k + j for j in range(k + 1)]
    assert sum(inner.calls) == sum(k + 1 for k in range(6))
    assert max(inner.calls) > 6  # several callers were merged into one call
    stats = scorer.stats()["embed"]
    assert stats["max_callers"] >= 2 and stats["batches"] == len(inner.calls)
    scorer.close()


def test_head_is_batched_and_errors_reach_every_caller():
    scorer = BatchingScorer(FakeScorer(), max_wait_s=0.0)
    w = np.full((2, 5, 512), 51.0, np.float32)
    np.testing.assert_allclose(scorer.head(w), [0.2, 0.2])
    assert scorer.embed([]).shape == (0, 512)

    class Broken(FakeScorer):
        def embed(self, crops):
            raise RuntimeError("backend failed")

    broken = BatchingScorer(Broken())
    with pytest.raises(RuntimeError, match="backend failed"):
        broken.embed([np.zeros((16, 16, 3), np.uint8)])
    broken.close()
    scorer.close()


def test_a_client_close_leaves_the_shared_scorer_open():
    scorer = BatchingScorer(FakeScorer())
    a, b = scorer.client(), scorer.client()
    a.close()
    assert b.embed([np.zeros((16, 16, 3), np.uint8)]).shape == (1, 512)
    from rtliveness.errors import ClosedError

    with pytest.raises(ClosedError, match=r"^this scorer client is closed \(its pipeline was closed\)"):
        a.embed([np.zeros((16, 16, 3), np.uint8)])
    with pytest.raises(ClosedError):
        a.head(np.zeros((1, 5, 512), np.float32))
    scorer.close()


def _returns_within(call, seconds: float = 5.0) -> dict:
    """Run ``call`` in a thread: {"result": ...} or {"error": exc}; {} when it is still waiting."""
    out: dict = {}

    def run():
        try:
            out["result"] = call()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    return out


def test_calls_after_close_raise_at_once_instead_of_waiting_for_ever():
    """Review finding: embed()/head() after close() were queued for the stopped worker and never returned."""
    from rtliveness.errors import ClosedError

    scorer = BatchingScorer(FakeScorer())
    scorer.close()
    for name, call in (("embed", lambda: scorer.embed([np.zeros((16, 16, 3), np.uint8)])),
                       ("head", lambda: scorer.head(np.zeros((1, 5, 512), np.float32)))):
        out = _returns_within(call)
        assert out, f"{name}() after close() still waits"
        assert isinstance(out["error"], ClosedError)
        assert str(out["error"]) == f"the shared scorer is closed: {name}() after close(); build a new BatchingScorer"


def test_close_fails_the_calls_queued_behind_a_backend_call_that_does_not_end(monkeypatch):
    """A call waiting behind a backend call that outlasts close()'s wait gets ClosedError (it
    waited for ever); the call in the backend gets its rows once the backend returns."""
    from rtliveness.errors import ClosedError
    from rtliveness.model import batching

    monkeypatch.setattr(batching._Lane, "STOP_WAIT_S", 0.2)

    class Stuck(FakeScorer):
        def __init__(self):
            super().__init__()
            self.entered, self.gate = threading.Event(), threading.Event()

        def embed(self, crops):
            self.entered.set()
            self.gate.wait(30)
            return super().embed(crops)

    inner = Stuck()
    scorer = BatchingScorer(inner)
    crop = [np.full((16, 16, 3), 7, np.uint8)]
    first: dict = {}
    in_backend = threading.Thread(target=lambda: first.setdefault("rows", scorer.embed(crop)), daemon=True)
    in_backend.start()
    assert inner.entered.wait(10)
    queued: dict = {}

    def behind():
        try:
            scorer.embed(crop)
        except ClosedError as exc:
            queued["error"] = str(exc)

    waiting = threading.Thread(target=behind, daemon=True)
    waiting.start()
    while scorer._embed._q.qsize() == 0:  # queued behind the backend call
        time.sleep(0.01)
    scorer.close()
    waiting.join(5)
    assert queued == {"error": "the shared scorer is closed: embed() after close(); build a new BatchingScorer"}
    inner.gate.set()
    in_backend.join(10)
    assert first["rows"].shape == (1, 512) and float(first["rows"][0, 0]) == 7.0
