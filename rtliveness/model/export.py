"""ONNX export of the SpoofModel and the export cache.

Export layout — ``export_onnx(weights, out)`` writes a **folder** ``out`` holding::

    encoder.onnx   crops  float32 (N, 3, S, S) -> embeddings float32 (N, 512)   dynamic N
    head.onnx      windows float32 (B, 5, 512) -> logits   float32 (B,)         dynamic B
    meta.json      {"format": "rtliveness-onnx", "version": 1, "opset": 17,
                    "checkpoint_sha256": "...", "checkpoint": "<path>", "meta": {ModelMeta.to_dict()},
                    "files": {"encoder.onnx": {"bytes": ..., "sha256": "..."}, "head.onnx": {...}}}

The encoder takes crops already normalised by :func:`rtliveness.model.backends.preprocess_crops`
(the same arithmetic as the torch backend), so both backends see identical inputs. The head
returns logits; the ONNX scorer applies the same sigmoid.

:func:`cached_export` exports once into a cache folder keyed by the checkpoint's sha256 (and the
opset) — ``$RTLIVENESS_CACHE`` or ``$XDG_CACHE_HOME/rtliveness`` or ``~/.cache/rtliveness``,
falling back to ``<temp dir>/rtliveness-<uid>`` when that is not writable — and reuses the export afterwards.
The cache entry is written to a temporary sibling and renamed into place, so a crash or two
processes exporting at once never leave a half-written model; an entry damaged later (a
truncated or changed graph file: its size or sha256 no longer what ``meta.json`` recorded) is
made again rather than blocking every run.

A cache is only as trusted as its folder, so the scoring settings (threshold, security levels,
window, input size, preprocessing: :class:`ModelMeta`) of a backend built from a checkpoint come
from the checkpoint itself (:func:`checkpoint_meta`, the file whose sha256 named the entry), never
from the cached ``meta.json``; an entry whose ``meta.json`` disagrees with the checkpoint is made
again. The shared temp fallback is made private (0700) and used only while it is a real folder
(not a symbolic link) of the current user that nobody else can write; otherwise, and when the
default ``~/.cache`` folder belongs to another user or anyone can write it, this process exports
into a private temporary folder of its own (removed at exit) and says why on stderr in one line.
A folder set with ``$RTLIVENESS_CACHE`` is used as given (it may be shared on purpose), with the
same one-line warning when other users can change it: the graph files' sha256 are recorded in the
same folder, so it is the folder's owner and mode that protect the graphs.

``rtliveness export`` writes the same folder for other runtimes (ONNX Runtime, OpenVINO, a
browser or mobile runtime): ``run``, ``serve`` and ``fleet`` take the ``.pt`` checkpoint and use
their own cached export (``OnnxScorer.from_onnx`` loads an export folder in Python).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import stat
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Mapping

from ..config import check_onnx_opset
from ..errors import ConfigError, WeightsError
from ..outputs import check_output_folder
from .checkpoint import (CHECKPOINT_FORMAT, ModelMeta, default_weights_path, load_checkpoint, sha256_file,
                         verify_sidecar)
from .dims import EMBED_DIM

__all__ = ["export_onnx", "cached_export", "cached_export_meta", "checkpoint_meta", "read_export", "onnx_cache_dir",
           "ONNX_FORMAT", "INSTALL_HINT", "ENCODER_FILE", "HEAD_FILE"]

ONNX_FORMAT = "rtliveness-onnx"
ONNX_VERSION = 1
ENCODER_FILE = "encoder.onnx"
HEAD_FILE = "head.onnx"
META_FILE = "meta.json"
INSTALL_HINT = "install the [onnx] extra: pip install 'rtliveness[onnx]'"


def onnx_cache_dir() -> Path:
    """Where exported models are cached (see the module docstring)."""
    env = os.environ.get("RTLIVENESS_CACHE")
    if env:
        return Path(env) / "onnx"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "rtliveness" / "onnx"


def _uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None


_warned: set[str] = set()
_lock = threading.Lock()
_process_dir: Path | None = None


def _warn_once(key: str, message: str) -> None:
    """One ``rtliveness: warning:`` line on stderr per ``key`` and process."""
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    if sys.stderr is not None:
        print(f"rtliveness: warning: {message}", file=sys.stderr, flush=True)


def _unsafe_reason(folder: Path, private: bool) -> str | None:
    """Why other local users could change what ``folder`` holds; None when they cannot.

    ``private``: the shared temp fallback — a real folder (``lstat``: not a symbolic link) of this
    user, writable by nobody else. Otherwise (a home or configured folder, whose last part may
    well be a link and whose group may share it on purpose): owned by this user, not world-writable."""
    try:
        st = os.lstat(folder) if private else os.stat(folder)
    except OSError as exc:
        return f"cannot stat it ({exc.strerror or exc})"
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a folder"
    uid = _uid()
    if uid is None:  # no POSIX owners (Windows): the temp dir is per user there
        return None
    if st.st_uid != uid:
        return f"it belongs to uid {st.st_uid}, not to uid {uid}"
    mode = stat.S_IMODE(st.st_mode)
    if mode & (0o022 if private else 0o002):
        return f"other users can write it (mode {mode:04o})"
    return None


def _usable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=folder, delete=True)
        probe.close()
        return True
    except OSError:
        return False


def _temp_cache_dir() -> Path | None:
    """``<temp dir>/rtliveness-<uid>/onnx``, made private; None (with one warning line) when that
    folder or the one above it is a link, another user's, or writable by others."""
    base = Path(tempfile.gettempdir()) / f"rtliveness-{_uid() if _uid() is not None else 'user'}"
    folder = base / "onnx"
    for d in (base, folder):
        try:
            d.mkdir(mode=0o700, exist_ok=True)
        except OSError:
            pass  # a link, a file or a folder we cannot make: named below
        reason = _unsafe_reason(d, private=True)
        if reason is not None:
            _warn_once(str(d), f"refused the shared ONNX cache folder {d}: {reason}; exporting into a private "
                               f"temporary folder for this run (remove {d}, or set RTLIVENESS_CACHE to a "
                               "folder of your own)")
            return None
    return folder if _usable(folder) else None


def _private_cache_dir() -> Path:
    """A fresh 0700 folder of this process (removed at exit): the cache when no other can be trusted."""
    global _process_dir
    with _lock:
        if _process_dir is None or not _process_dir.is_dir():
            try:
                _process_dir = Path(tempfile.mkdtemp(prefix="rtliveness-onnx-"))
            except OSError as exc:
                raise ConfigError("no writable cache folder for the ONNX export; set RTLIVENESS_CACHE to a "
                                  "writable folder") from exc
            atexit.register(shutil.rmtree, _process_dir, True)
        return _process_dir


def _writable_cache_dir() -> Path:
    configured = onnx_cache_dir()
    explicit = bool(os.environ.get("RTLIVENESS_CACHE"))  # XDG_CACHE_HOME is a general setting: checked as ~/.cache
    if _usable(configured):
        # the default ~/.cache/rtliveness/onnx (or under $XDG_CACHE_HOME): each of its three folders
        # (whoever owns one could swap the folders below it); $RTLIVENESS_CACHE: the folder itself
        chain = (configured,) if explicit else (configured, configured.parent, configured.parent.parent)
        found = next(((d, r) for d in chain if (r := _unsafe_reason(d, private=False)) is not None), None)
        if found is None:
            return configured
        where, reason = found
        if explicit:  # set on purpose, maybe shared on purpose: used, with a word
            _warn_once(str(where), f"the ONNX cache folder {where} is not private: {reason}, so others could swap "
                                   "the cached model and every verdict with it; make it yours (chown, then chmod 700) or "
                                   "set RTLIVENESS_CACHE to a folder of your own")
            return configured
        _warn_once(str(where), f"refused the ONNX cache folder {where}: {reason}; set RTLIVENESS_CACHE to a "
                               "folder of your own")
    elif explicit:  # set on purpose and unusable: the exports land elsewhere, said once
        fallback = _temp_cache_dir() or _private_cache_dir()
        _warn_once(str(configured), f"cannot write the ONNX cache folder {configured} (RTLIVENESS_CACHE); caching in "
                                    f"{fallback} instead: make it a writable folder, or set RTLIVENESS_CACHE to one")
        return fallback
    return _temp_cache_dir() or _private_cache_dir()


def export_onnx(weights: Path | None, out: Path, opset: int = 17, verify_checksum: bool = True) -> Path:
    """Export the checkpoint ``weights`` (None = bundled) to the folder ``out``; returns ``out``.

    Writes ``encoder.onnx``, ``head.onnx`` and ``meta.json`` (see the module docstring). An
    earlier export at ``out`` is replaced atomically (written beside it, then renamed); anything
    else there — a file, a folder holding other files — is refused with :class:`ConfigError`
    before any work, never deleted.
    """
    return _export(weights, out, opset=opset, verify_checksum=verify_checksum, check_target=True)


def _export(weights: Path | None, out: Path, opset: int, verify_checksum: bool, check_target: bool) -> Path:
    """:func:`export_onnx`; ``check_target=False`` for a cache entry, which the cache owns: whatever
    it holds (a damaged export, a stray ``.DS_Store``) is replaced whole."""
    check_onnx_opset(opset)
    try:
        import torch
        import onnx  # noqa: F401 - the TorchScript exporter needs it
    except ImportError as exc:
        raise ConfigError(f"exporting to ONNX needs the onnx package; {INSTALL_HINT}") from exc
    from torch import nn

    if check_target:
        _check_export_target(Path(out))
    path = Path(weights) if weights is not None else default_weights_path()
    loaded = load_checkpoint(path, verify_checksum=verify_checksum)
    digest = loaded.sha256 or sha256_file(path)
    model = loaded.model.float().cpu().eval()
    meta = loaded.meta
    s = int(meta.input_size)

    class _Encoder(nn.Module):
        def __init__(self, m) -> None:
            super().__init__()
            self.m = m

        def forward(self, crops):
            return self.m.embed(crops)

    class _Head(nn.Module):
        def __init__(self, m) -> None:
            super().__init__()
            self.m = m

        def forward(self, windows):
            return self.m.head(windows)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # a folder like any other, not mkdtemp's private 0700
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notes
            torch.onnx.export(
                _Encoder(model).eval(), (torch.zeros(2, 3, s, s),), str(tmp / ENCODER_FILE),
                input_names=["crops"], output_names=["embeddings"],
                dynamic_axes={"crops": {0: "N"}, "embeddings": {0: "N"}},
                opset_version=opset, do_constant_folding=True, dynamo=False,
            )
            torch.onnx.export(
                _Head(model).eval(), (torch.zeros(2, meta.window, EMBED_DIM),), str(tmp / HEAD_FILE),
                input_names=["windows"], output_names=["logits"],
                dynamic_axes={"windows": {0: "B"}, "logits": {0: "B"}},
                opset_version=opset, do_constant_folding=True, dynamo=False,
            )
        info = {
            "format": ONNX_FORMAT,
            "version": ONNX_VERSION,
            "opset": int(opset),
            "checkpoint": str(path),
            "checkpoint_sha256": digest,
            "meta": meta.to_dict(),
            # what each graph file must be: a damaged cache entry is found and rebuilt (cached_export)
            "files": {name: {"bytes": (tmp / name).stat().st_size, "sha256": sha256_file(tmp / name)}
                      for name in (ENCODER_FILE, HEAD_FILE)},
        }
        (tmp / META_FILE).write_text(json.dumps(info, indent=2) + "\n")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=out.name + ".", suffix=".old", dir=out.parent))
            os.replace(out, old / "x")
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, out)
        except OSError:
            if not (out / META_FILE).is_file():  # lost a race only if the winner left a full export
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


_EXPORT_FILES = {ENCODER_FILE, HEAD_FILE, META_FILE}


def _check_export_target(out: Path) -> None:
    """``out`` may be new, an empty folder or an earlier export (only its three files)."""
    if not out.exists():
        check_output_folder(out, "--out")  # a read-only place or a file above it: one line, before any work
        return
    if not out.is_dir():
        raise ConfigError(f"--out {out} is a file; name a new folder for the export")
    other = sorted(p.name for p in out.iterdir() if p.name not in _EXPORT_FILES)
    if other:
        raise ConfigError(f"--out {out} holds other files ({', '.join(other[:3])}{', …' if len(other) > 3 else ''}); "
                          "name a new folder for the export (an earlier export there is replaced, nothing else)")
    check_output_folder(out.parent, "--out")  # an earlier export is replaced by a rename in its folder


def read_export(path: Path) -> tuple[Path, dict]:
    path = Path(path)
    folder = path.parent if path.is_file() else path
    meta_path = folder / META_FILE
    if not meta_path.is_file():
        raise WeightsError(f"{path} is not an rtliveness ONNX export (no {META_FILE}); create one with export_onnx()")
    try:
        info = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read {meta_path}: {exc}") from exc
    if not isinstance(info, dict) or info.get("format") != ONNX_FORMAT:
        raise WeightsError(f"{meta_path} is not an rtliveness ONNX export (format {info.get('format') if isinstance(info, dict) else None!r})")
    files = info.get("files") if isinstance(info.get("files"), dict) else {}
    for name in (ENCODER_FILE, HEAD_FILE):
        if not (folder / name).is_file():
            raise WeightsError(f"ONNX export {folder} is incomplete: {name} is missing; export it again")
        want = files.get(name, {}).get("bytes") if isinstance(files.get(name), dict) else None
        if want is not None and (folder / name).stat().st_size != want:
            raise WeightsError(f"ONNX export {folder} is damaged: {name} has {(folder / name).stat().st_size} bytes, "
                               f"{META_FILE} says {want}; export it again")
    return folder, info


def _intact(folder: Path, info: dict) -> bool:
    """Whether every graph file of an export has the sha256 its ``meta.json`` recorded (an export
    written before the record was kept counts as not intact: it is simply made again)."""
    files = info.get("files")
    if not isinstance(files, dict):
        return False
    return all(isinstance(files.get(n), dict) and sha256_file(folder / n) == files[n].get("sha256")
               for n in (ENCODER_FILE, HEAD_FILE))


def checkpoint_meta(weights: Path) -> ModelMeta:
    """The scoring settings (:class:`ModelMeta`) stored in the checkpoint ``weights`` itself.

    An rtliveness checkpoint is memory-mapped and only its small ``meta`` record read (about
    10 ms, no weights built); other shapes (origin files) go through :func:`load_checkpoint`,
    which also gives its usual one-line errors. The sidecar check is the caller's."""
    import torch

    path = Path(weights)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # not torch's zip format, or not loadable: load_checkpoint says why
        obj = None
    if isinstance(obj, Mapping) and obj.get("format") == CHECKPOINT_FORMAT \
            and isinstance(obj.get("state_dict"), Mapping) and isinstance(obj.get("meta", {}), Mapping):
        meta_d = dict(obj.get("meta", {}))
        return ModelMeta.from_dict(meta_d) if meta_d else ModelMeta()
    return load_checkpoint(path, verify_checksum=False).meta


def _same_meta(info: dict, meta: ModelMeta) -> bool:
    try:
        return ModelMeta.from_dict(info.get("meta")) == meta
    except (WeightsError, TypeError, AttributeError, ValueError):
        return False


def cached_export_meta(weights: Path | None = None, verify_checksum: bool = True, opset: int = 17,
                       cache_dir: Path | None = None) -> tuple[Path, dict, ModelMeta]:
    """:func:`cached_export`, plus the entry's ``meta.json`` record and the checkpoint's own
    :class:`ModelMeta` — what a backend scores with (the record's ``meta`` agrees with it: an entry
    whose ``meta`` does not is made again)."""
    path = Path(weights) if weights is not None else default_weights_path()
    if not path.is_file():
        load_checkpoint(path, verify_checksum=verify_checksum)  # its usual one-line error
    digest = verify_sidecar(path) if verify_checksum else None
    digest = digest or sha256_file(path)
    meta = checkpoint_meta(path)
    root = Path(cache_dir) if cache_dir is not None else _writable_cache_dir()
    folder = root / f"{digest[:32]}-opset{int(opset)}"
    try:
        _, info = read_export(folder)
        if info.get("checkpoint_sha256") != digest or not _same_meta(info, meta) or not _intact(folder, info):
            raise WeightsError("stale, altered or damaged cache entry")
    except WeightsError:  # made (again): a truncated or changed graph file never blocks a run
        _export(path, folder, opset=opset, verify_checksum=verify_checksum, check_target=False)
        _, info = read_export(folder)
    return folder, info, meta


def cached_export(weights: Path | None = None, verify_checksum: bool = True, opset: int = 17,
                  cache_dir: Path | None = None) -> Path:
    """Export ``weights`` (None = bundled) once into the cache (keyed by its sha256); the folder.
    An entry whose graph files do not match the sha256 its ``meta.json`` recorded, or whose
    ``meta.json`` disagrees with the checkpoint's own settings, is made again."""
    return cached_export_meta(weights, verify_checksum=verify_checksum, opset=opset, cache_dir=cache_dir)[0]
