"""Output paths checked before any work: one place for the rule every command follows.

A command that would spend minutes (scoring a dataset, training, rendering, benchmarking) and then
fail to write its result checks the path first: the folder it goes in exists (or, where the
command makes it, can be made), the path is not a folder (for a file) or a file (for a folder),
and the place is writable. Each problem is one :class:`ConfigError` line naming the option.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

__all__ = ["check_output_file", "check_output_folder", "check_outside"]


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_writable_parent(path: Path, option: str, make_parent: bool) -> None:
    parent = path.parent
    if not parent.exists():
        if not make_parent:
            raise ConfigError(f"{option} folder does not exist: {parent}; create it first")
        base = _nearest_existing(parent)
        if not base.is_dir():
            raise ConfigError(f"{option} cannot go under {base}: it is a file, not a folder; give another path")
        parent = base
    elif not parent.is_dir():
        raise ConfigError(f"{option} cannot go under {parent}: it is a file, not a folder; give another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} cannot be written: {parent} is read-only or not yours; give another path")


def check_output_file(path: str | os.PathLike, option: str, make_parent: bool = False) -> Path:
    """``path`` as a :class:`Path` if a file can be written there; ``make_parent``: the command
    creates missing folders above it (else a missing folder is refused)."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{option} is a folder: {p}; give a file path")
    if p.exists() and not os.access(p, os.W_OK):
        raise ConfigError(f"{option} cannot be written: {p} is read-only; give another path")
    _check_writable_parent(p, option, make_parent)
    return p


def check_output_folder(path: str | os.PathLike, option: str) -> Path:
    """``path`` as a :class:`Path` if it is, or can be made, a writable folder (missing folders
    above it are made by the command)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{option} is a file: {p}; give a folder path")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise ConfigError(f"{option} cannot be written: {p} is read-only or not yours; give another path")
        return p
    _check_writable_parent(p, option, make_parent=True)
    return p


def _inside(path: str | os.PathLike, root: str | os.PathLike) -> tuple[Path | None, Path]:
    """``(path, root)`` as compared when ``path`` lies in ``root`` or is it — through links
    (resolved) or by name (a class folder that is a link elsewhere is still read as one) — and
    not below a hidden folder of it (never read); ``(None, root)`` otherwise."""
    for p, r in ((Path(path).resolve(), Path(root).resolve()),
                 (Path(os.path.abspath(path)), Path(os.path.abspath(root)))):
        if p == r or (r in p.parents and not any(part.startswith(".") for part in p.relative_to(r).parts)):
            return p, r
    return None, Path(root).resolve()


#: what a folder inside a command's input tree reads as, and what it then stops
_INPUT_TREES = {
    "dataset": ("a class or a sample folder", "every later train, eval or --resume on it"),
    "video folder": ("a class or a person folder", "the next prepare of it"),
}


def check_outside(path: str | os.PathLike, root: str | os.PathLike, option: str, what: str = "dataset",
                  folder: bool = True) -> None:
    """Refuse an output that would put a folder inside the input tree ``root`` (a dataset, or the
    videos ``prepare`` reads): there a new folder reads as a class, sample or person folder and
    stops every later command on ``root``. An output folder (``folder=True``) must lie outside
    ``root``; an output file may lie inside it where its folder already exists (a file is never
    read as a sample). One :class:`ConfigError` line naming the option."""
    reads_as, stops = _INPUT_TREES[what]
    p, r = _inside(path, root)
    if p is None:
        return
    if folder:
        if p == r:
            raise ConfigError(f"{option} {path} is the {what} {root} itself; give a folder outside it")
        raise ConfigError(f"{option} {path} is inside the {what} {root}, where a folder reads as {reads_as} and "
                          f"stops {stops}; give a folder outside it, e.g. {r.parent / p.relative_to(r)}")
    new = p.parent
    if new.exists():
        return
    while not new.parent.exists():
        new = new.parent
    raise ConfigError(f"{option} {path} would make the folder {new} inside the {what} {root}, where a folder reads "
                      f"as {reads_as} and stops {stops}; write it outside {root}, or into a folder already there")
