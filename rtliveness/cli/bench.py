"""``rtliveness bench`` (being rewritten)."""

from __future__ import annotations

from .common import guarded


@guarded
def bench() -> None:
    """Benchmark every stage against the naive origin loop."""
    raise SystemExit(1)
