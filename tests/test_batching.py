"""The shared batched scorer: concurrent callers merged into one backend call, each gets its rows."""

import threading

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
