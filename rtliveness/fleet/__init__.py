"""A camera fleet on Ray (``rtliveness fleet``, extra ``[cluster]``): many sources, many machines.

* :mod:`.config` — :class:`FleetConfig`, validated settings.
* :mod:`.naming` — source specs → output names; the sources file; pure.
* :mod:`.checks` — what the driver checks before Ray sees it: paths, missing files, the address.
* :mod:`.runner` — one stream inside a worker: source → pipeline → records and video. Ray-free.
* :mod:`.merge` — a stream's epochs (after restarts) joined into one ``run --jsonl`` summary;
  the scorers' batch histograms joined. Pure.
* :mod:`.actors` — the Ray actors: stream workers (detector, tracker, windows) and the shared,
  stateless, batched scorer pool.
* :mod:`.stream` — the driver's record of one stream: state, worker, its JSON lines.
* :mod:`.remote` — a worker's error on one line, and our own error type back from its text.
* :mod:`.controller` — the driver: places streams on workers, writes every output, restarts
  streams whose worker died, watches the sources file.

The core (``rtliveness.runtime``) never imports Ray: the same pipeline runs in-process.
"""

from __future__ import annotations

__all__ = ["FleetConfig", "run_fleet"]


def __getattr__(name: str):
    if name == "FleetConfig":
        from .config import FleetConfig

        return FleetConfig
    if name == "run_fleet":
        from .controller import run_fleet

        return run_fleet
    raise AttributeError(f"module 'rtliveness.fleet' has no attribute {name!r}")
