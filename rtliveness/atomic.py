"""Files written whole or not at all: the one place of the rule (checkpoints, dataset metadata,
teacher caches, ``fleet.json``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_file"]


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", fsync: bool = True, **open_kw) -> Iterator[IO]:
    """A file opened beside ``path`` (``mode`` ``"wb"`` or ``"w"``), renamed over ``path`` when
    the block ends without an error and removed when it raises: a reader sees the old file or
    the new one, never half of one. ``fsync``: the data reach the disk before the rename (off
    for a status file rewritten every second). The file gets the permissions of any new file
    (the umask), not ``mkstemp``'s private 0600."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, mode, **open_kw) as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
