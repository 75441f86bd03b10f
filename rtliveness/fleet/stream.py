"""The driver's record of one stream: its state, its worker, and its JSON lines (the controller is
their only writer)."""

from __future__ import annotations

import time
from pathlib import Path

from .merge import StreamLedger

__all__ = ["DriverStream"]


class DriverStream:
    """One source's outputs and state on the driver; its JSON lines go through the same
    :class:`~rtliveness.runtime.sinks.JsonlSink` as ``rtliveness run``."""

    def __init__(self, spec: str, name: str, out_dir: Path, write: bool = True, source: str | None = None) -> None:
        """``source``: the summary's ``source``, as ``run`` names it (default: ``spec``)."""
        from ..runtime.sinks import JsonlSink

        self.spec = spec
        self.ledger = StreamLedger(name, spec if source is None else source)
        # write=False: a stream refused before it started (its outputs would overwrite a source)
        self.jsonl_path = (out_dir / f"{name}.jsonl").resolve() if write else None
        self._sink = JsonlSink(self.jsonl_path) if write else None
        self._done = False
        self.worker: int | None = None
        self.status = "starting"  # starting | running | ended | failed | stopped | interrupted
        self.videos: list[tuple[int, str]] = []  # (epoch, path): each epoch's annotated video, if asked for
        self.stop_as: str | None = None  # set when the controller stopped it (removed / Ctrl+C)
        self.last_write_at: float | None = None  # time.monotonic() of the last records written
        self.acked = 0  # records of the current epoch written (the worker drops them when told)
        self.add_ref = None  # the worker's answer to starting the current epoch, until checked

    def videos_written(self) -> list[str]:
        """The videos of the epochs that processed a frame (a worker opens its video writer at the
        first frame, on its own node: a source that never opened has none)."""
        epochs = self.ledger.epochs
        return [path for epoch, path in self.videos if epoch < len(epochs) and epochs[epoch].frames > 0]

    def write(self, rep: dict) -> None:
        """A worker's drain report: the records not written yet, in order (it sends again what the
        controller has not acknowledged: those written already are skipped). Each record is counted
        as it reaches the file, so a failed write (:class:`OutputError`) leaves the count true."""
        records = rep["records"][max(0, self.acked - (rep["first"] - 1)):]
        for r in records:
            self._sink.write_obj(r)
            self.ledger.add_records([r])
            self.acked += 1
        if records:
            self.last_write_at = time.monotonic()

    def resume_time(self) -> float:
        """Where a live stream's time goes on after a restart: its last time written plus the time
        since (at least a millisecond), so time keeps growing with the frame numbers."""
        if self.ledger.last_time is None:
            return 0.0
        since = 0.0 if self.last_write_at is None else time.monotonic() - self.last_write_at
        return self.ledger.last_time + max(since, 1e-3)

    def finish(self) -> None:
        if self._done:
            return
        self._done = True
        if self._sink is None:
            return
        try:
            self._sink.end(self.ledger.summary(self.stop_as))
        finally:
            self._sink.close()

    @property
    def done(self) -> bool:
        return self._done
