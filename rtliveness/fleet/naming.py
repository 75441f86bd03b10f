"""Source specs → unique, file-system-safe output names; reading the sources file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from ..errors import ConfigError

__all__ = ["source_kind", "source_name", "unique_names", "read_sources_file"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_EPOCH = re.compile(r"\.(epoch\d+)$")  # the suffix of a restarted stream's video: never a source's own name


def source_name(spec: str) -> str:
    """``0`` → ``camera0``; ``/videos/door.mp4`` → ``door``; ``rtsp://cam-3:8554/live`` →
    ``cam-3_8554_live`` (credentials never appear in a name). A name ending in ``.epochN`` — the
    suffix of a restarted stream's video, ``door.epoch1.mp4`` — becomes ``…_epochN``, so no
    source's outputs can be another's."""
    return _EPOCH.sub(r"_\1", _plain_name(spec))


def source_kind(spec: str) -> str:
    """``camera``, ``stream`` or ``file``, as ``rtliveness run`` classifies a SOURCE
    (:func:`rtliveness.runtime.sources.parse_source`, the one rule); a negative camera index,
    which ``run`` refuses, is ``invalid`` (the stream fails with run's message)."""
    from ..runtime.sources import parse_source

    try:
        return parse_source(spec)[0]
    except ConfigError:
        return "invalid"


def _plain_name(spec: str) -> str:
    s = str(spec).strip()
    kind = source_kind(s)
    if kind == "camera":
        return f"camera{int(s)}"
    if kind == "stream":
        rest = s.split("://", 1)[1]
        rest = rest.rsplit("@", 1)[-1]  # drop user:password@
        rest = rest.split("?", 1)[0]
        name = _UNSAFE.sub("_", rest.replace(":", "_")).strip("._-")
        return name or "stream"
    stem = Path(s).stem
    return _UNSAFE.sub("_", stem).strip("._-") or "source"


def unique_names(specs: Iterable[str], taken: Iterable[str] = ()) -> dict[str, str]:
    """spec → name, suffixing ``-2``, ``-3`` … when two sources would share a name."""
    used = set(taken)
    out: dict[str, str] = {}
    for spec in specs:
        if spec in out:
            continue
        base = source_name(spec)
        name, k = base, 2
        while name in used:
            name, k = f"{base}-{k}", k + 1
        used.add(name)
        out[spec] = name
    return out


def read_sources_file(path: Path) -> list[str]:
    """One source per line; blank lines and lines starting with ``#`` are ignored; order kept,
    duplicates removed. UTF-8, with or without a byte-order mark; a file that is not UTF-8 raises
    :class:`ConfigError` naming the file and the byte."""
    seen: dict[str, None] = {}
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"--sources-file {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                          f"{exc.start}); save it as UTF-8") from None
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            seen.setdefault(line, None)
    return list(seen)
