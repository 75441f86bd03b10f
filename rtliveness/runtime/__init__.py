"""The real-time loop: sources → detect → track → crop (→ low-light lift) → window buffer → scorer → sinks.

Modules, one job each: ``sources`` (file / camera / stream / array), ``detect`` (detector
registry), ``track`` (the one face follower), ``buffer`` (per-track ring of 5 embeddings),
``crop`` (the one serving crop), ``exposure`` (the low-light lift of a dark crop), ``pipeline`` (the only wiring, no I/O), ``decision`` (the one
threshold rule, ``decide()``), ``overlay`` (pure drawing), ``sinks`` (the ``Sink`` protocol and
built-in sinks), ``progress`` (progress display, FPS), ``app`` (``process_source``).
Import the module you need; this package imports nothing by itself.
"""
