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
falling back to the system temp dir when that is not writable — and reuses the export afterwards.
The cache entry is written to a temporary sibling and renamed into place, so a crash or two
processes exporting at once never leave a half-written model; an entry damaged later (a
truncated or changed graph file: its size or sha256 no longer what ``meta.json`` recorded) is
made again rather than blocking every run.

``rtliveness export`` writes the same folder for other runtimes (ONNX Runtime, OpenVINO, a
browser or mobile runtime): ``run``, ``serve`` and ``fleet`` take the ``.pt`` checkpoint and use
their own cached export (``OnnxScorer.from_onnx`` loads an export folder in Python).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from ..config import check_onnx_opset
from ..errors import ConfigError, WeightsError
from ..outputs import check_output_folder
from .checkpoint import default_weights_path, load_checkpoint, sha256_file, verify_sidecar
from .dims import EMBED_DIM

__all__ = ["export_onnx", "cached_export", "read_export", "onnx_cache_dir", "ONNX_FORMAT", "INSTALL_HINT",
           "ENCODER_FILE", "HEAD_FILE"]

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


def _writable_cache_dir() -> Path:
    for cand in (onnx_cache_dir(), Path(tempfile.gettempdir()) / f"rtliveness-{os.getuid() if hasattr(os, 'getuid') else 'user'}" / "onnx"):
        try:
            cand.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=cand, delete=True)
            probe.close()
            return cand
        except OSError:
            continue
    raise ConfigError("no writable cache folder for the ONNX export; set RTLIVENESS_CACHE to a writable folder")


def export_onnx(weights: Path | None, out: Path, opset: int = 17, verify_checksum: bool = True) -> Path:
    """Export the checkpoint ``weights`` (None = bundled) to the folder ``out``; returns ``out``.

    Writes ``encoder.onnx``, ``head.onnx`` and ``meta.json`` (see the module docstring). An
    earlier export at ``out`` is replaced atomically (written beside it, then renamed); anything
    else there — a file, a folder holding other files — is refused with :class:`ConfigError`
    before any work, never deleted.
    """
    check_onnx_opset(opset)
    try:
        import torch
        import onnx  # noqa: F401 - the TorchScript exporter needs it
    except ImportError as exc:
        raise ConfigError(f"exporting to ONNX needs the onnx package; {INSTALL_HINT}") from exc
    from torch import nn

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




def cached_export(weights: Path | None = None, verify_checksum: bool = True, opset: int = 17,
                  cache_dir: Path | None = None) -> Path:
    """Export ``weights`` (None = bundled) once into the cache (keyed by its sha256); the folder.
    An entry whose graph files do not match the sha256 its ``meta.json`` recorded is made again."""
    path = Path(weights) if weights is not None else default_weights_path()
    if not path.is_file():
        load_checkpoint(path, verify_checksum=verify_checksum)  # its usual one-line error
    digest = verify_sidecar(path) if verify_checksum else None
    digest = digest or sha256_file(path)
    root = Path(cache_dir) if cache_dir is not None else _writable_cache_dir()
    folder = root / f"{digest[:32]}-opset{int(opset)}"
    try:
        _, info = read_export(folder)
        if info.get("checkpoint_sha256") != digest or not _intact(folder, info):
            raise WeightsError("stale or damaged cache entry")
    except WeightsError:  # made (again): a truncated or changed graph file never blocks a run
        export_onnx(path, folder, opset=opset, verify_checksum=verify_checksum)
    return folder
