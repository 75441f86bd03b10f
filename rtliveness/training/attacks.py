"""The one list of classes: the bona fide class and the attack types (the origin layout's folder
names). A new attack type is one entry here plus one renderer module in ``training/synth/``."""

from __future__ import annotations

import zlib

__all__ = ["BONA_FIDE", "ATTACKS", "CLASSES", "class_seed"]

BONA_FIDE = "real"
ATTACKS: tuple[str, ...] = ("replay", "printed", "2dmask")
CLASSES: tuple[str, ...] = (BONA_FIDE, *ATTACKS)


def class_seed(name: str) -> int:
    """A stable number per class name for seeding (independent of the order of ``CLASSES``)."""
    return zlib.crc32(name.encode("utf-8"))
