"""Files the training commands write, written whole or not at all."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2

from ..atomic import atomic_file
from ..errors import DataError


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk, then rename it over
    ``path``: a reader sees the old file or the new one, never half of one. The file gets the
    permissions of any new file (the umask), not ``mkstemp``'s private 0600."""
    with atomic_file(path, "w") as fh:
        fh.write(text)


def _partial(sdir: Path) -> Path:
    """The hidden folder a sample is written into before it is renamed to ``sdir``."""
    return sdir.with_name(f".{sdir.name}.partial")


def remove_sample(sdir: Path) -> None:
    """Remove a sample's folder, whole or still being written."""
    for p in (sdir, _partial(sdir)):
        if p.exists():
            shutil.rmtree(p)


def write_sample(sdir: Path, crops: list) -> None:
    """Write a sample's crops as ``0.png``… into a hidden folder beside ``sdir``, then rename it:
    an interrupted command leaves no half-written sample (datasets skip hidden folders)."""
    tmp = _partial(sdir)
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for j, crop in enumerate(crops):
        if not cv2.imwrite(str(tmp / f"{j}.png"), crop):
            raise DataError(f"could not write {tmp / f'{j}.png'}; check the disk and the permissions of {sdir.parent}")
    if sdir.exists():
        shutil.rmtree(sdir)
    os.replace(tmp, sdir)
