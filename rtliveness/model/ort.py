"""ONNX Runtime, imported in one place: with its telemetry off unless the user turns it on.

ONNX Runtime 1.2x starts a telemetry client when it is imported; where it cannot keep its device
identifier (a read-only home: a systemd service, ``docker --read-only``, a service account) it
prints a coloured warning line of its own on stderr, before any session option could quiet it —
a second line next to every one-line error. A liveness check on camera frames sends nothing
anywhere, so ``ORT_DISABLE_TELEMETRY`` defaults to ``1`` here; a value the user set is kept.
"""

from __future__ import annotations

import os

__all__ = ["import_ort"]


def import_ort():
    """The ``onnxruntime`` module (``ImportError`` when it is not installed or does not load)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime  # noqa: WPS433 - optional dependency, imported lazily

    return onnxruntime
