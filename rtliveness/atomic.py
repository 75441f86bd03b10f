"""Files written whole or not at all: the one place of the rule (checkpoints, dataset metadata,
teacher caches, ``fleet.json``)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_file"]


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", fsync: bool = True, **open_kw) -> Iterator[IO]:
    """A file opened beside ``path`` (``mode`` ``"wb"`` or ``"w"``), renamed over ``path`` when
    the block ends without an error and removed when it raises: a reader sees the old file or
    the new one, never half of one. ``fsync``: the data reach the disk before the rename (off
    for a status file rewritten every second). The file is created with the permissions of any
    new file (0666 less the umask; no process-wide umask change, no chmod)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, mode, **open_kw) as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
