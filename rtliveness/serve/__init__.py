"""The HTTP/WebSocket service (``rtliveness serve``, extra ``[serve]``: FastAPI + uvicorn).

* :mod:`.config` — :class:`ServeConfig`, validated settings.
* :mod:`.engine` — the shared model (one batched scorer, one detector), stream slots, the
  upload analysis; no HTTP in it.
* :mod:`.stream` — one WebSocket stream's pure logic: decoding a message, the bounded pending
  queue that drops the oldest frame, the per-frame records.
* :mod:`.app` — the FastAPI routes, authentication and limits.
* ``static/`` — the kiosk page served at ``/``.

Nothing here is imported by the core: the pipeline runs without FastAPI installed.
"""

from __future__ import annotations

__all__ = ["ServeConfig", "create_app"]


def __getattr__(name: str):
    if name == "ServeConfig":
        from .config import ServeConfig

        return ServeConfig
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'rtliveness.serve' has no attribute {name!r}")
