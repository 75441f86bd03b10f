"""Checkpoints that hold more than tensors, read without running any of their code.

A training script's checkpoint may hold numpy scalars (sklearn's metrics), an
``argparse.Namespace``, or the whole model (``torch.save(model)``, DataParallel too). Such a file
is read still with ``torch.load(weights_only=True)``: the harmless data classes are allow-listed,
and every module class it names — torch.nn's, torchvision's, the script's own — is read as an
inert stand-in that takes its pickled ``__dict__`` only (no constructor, no ``__setstate__`` of
the real class, nothing of the file's). Only the tensors are then taken out of it.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch

__all__ = ["is_torchscript", "module_tensors", "read_pickled_model"]


class _InertModule(torch.nn.Module):
    """What a checkpoint's own module class (e.g. ``__main__.Model`` of a ``torch.save(model)``)
    is read as: an empty :class:`torch.nn.Module` that runs nothing of the file's. Only built by
    the unpickler's ``NEWOBJ`` + ``BUILD`` (its pickled ``__dict__``: parameters, buffers,
    children); a file that calls it as a function is refused."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("an inert stand-in for a checkpoint's own class cannot be called")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("an inert stand-in for a checkpoint's own class cannot be run")


#: top-level packages whose globals are never stood in for (only the allow-listed ones load)
_NO_STAND_IN = frozenset({"torch", "torchvision", "numpy", "builtins", "__builtin__", "copyreg", "collections",
                          "functools", "operator", "os", "posix", "nt", "sys", "subprocess", "importlib", "io",
                          "pickle", "types", "codecs", "shutil", "socket", "runpy", "ctypes"})


def _harmless_globals() -> dict[str, Any]:
    """The globals, beyond torch's own allow-list, that a training script's extras put in a
    checkpoint and that construct plain data only: numpy scalars, dtypes and arrays (what
    sklearn's metrics return), and :class:`argparse.Namespace` (a script's ``args``)."""
    import argparse

    import numpy as np

    out: dict[str, Any] = {"argparse.Namespace": argparse.Namespace, "numpy.dtype": np.dtype,
                           "numpy.ndarray": np.ndarray}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        try:
            m = __import__(mod, fromlist=["scalar"])
        except ImportError:
            continue
        for attr in ("scalar", "_reconstruct"):
            if hasattr(m, attr):
                out[f"{mod}.{attr}"] = getattr(m, attr)
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25: one class per dtype (what np.dtype(...) returns)
    for name in dir(dtypes) if dtypes is not None else ():
        cls = getattr(dtypes, name)
        if isinstance(cls, type) and issubclass(cls, np.dtype):
            out[f"numpy.dtypes.{name}"] = cls
            out[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return out


def _module_class(name: str) -> type | None:
    """The torch.nn / torchvision.models module class ``name`` names (None for anything else)."""
    import importlib

    mod, _, attr = name.rpartition(".")
    if not mod.startswith(("torch.nn.", "torchvision.models.")) or not attr.isidentifier():
        return None
    try:
        cls = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError):
        return None
    return cls if isinstance(cls, type) and issubclass(cls, torch.nn.Module) else None


_PICKLED_MODEL_LOAD = threading.Lock()


def read_pickled_model(path: Path, map_location: Any) -> tuple[Any, list[str]]:
    """Read a checkpoint that holds more than tensors — a whole pickled model, numpy/argparse
    extras — still with ``weights_only=True``: only harmless globals (:func:`_harmless_globals`)
    are allowed, and every module class — torch.nn's and torchvision's as well as the training
    script's own (e.g. ``__main__.Model``) — is read as an :class:`_InertModule`. Runs no
    constructor or ``__setstate__`` of any of them, nor any of the file's code.
    Returns (the object or None when that is not enough, the globals the file names)."""
    from torch.serialization import get_unsafe_globals_in_checkpoint, safe_globals

    try:
        names = list(get_unsafe_globals_in_checkpoint(path))
    except Exception:  # not torch's zip format (legacy torch.save): no safe way to list them
        return None, []
    harmless = _harmless_globals()
    allow: list[Any] = []
    for name in names:
        mod, _, attr = name.rpartition(".")
        if name in harmless:
            allow.append((harmless[name], name))
        elif _module_class(name) is not None or (mod and attr.isidentifier() and attr[:1].isupper()
                                                 and mod.split(".")[0] not in _NO_STAND_IN):
            # torch.nn / torchvision classes too: the real ones would run their constructor on the
            # file's arguments (REDUCE; a crafted Embedding(10**7, 1000) asks for 40 GB) and their
            # own __setstate__; a stand-in only takes its pickled __dict__
            allow.append((type(attr, (_InertModule,), {"__module__": mod, "__qualname__": attr}), name))
        else:
            return None, names
    if "numpy.dtype" in names:  # np.dtype(...) returns an instance of its class (Float64DType...), then built
        allow.extend({id(v): v for k, v in harmless.items() if k.startswith("numpy.dtypes.")}.values())
    try:
        # torch's allow-list is process-wide: one such load at a time, so two threads' loads neither
        # see nor remove each other's entries
        with _PICKLED_MODEL_LOAD, warnings.catch_warnings(), safe_globals(allow):
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True), names
    except Exception:
        return None, names


def module_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of a module read by :func:`read_pickled_model`, taken from its pickled
    ``_parameters``, ``_buffers`` and ``_modules`` (what ``state_dict()`` walks) without calling
    any method of it: tensors only."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()

    def walk(m: Any, prefix: str, depth: int) -> None:
        if id(m) in seen or depth > 64:
            return
        seen.add(id(m))
        d = getattr(m, "__dict__", {})
        skip = d.get("_non_persistent_buffers_set")
        skip = skip if isinstance(skip, (set, frozenset)) else set()
        for group in ("_parameters", "_buffers"):
            items = d.get(group)
            for name, t in (items.items() if isinstance(items, Mapping) else ()):
                if isinstance(name, str) and isinstance(t, torch.Tensor) and not (group == "_buffers" and name in skip):
                    out[prefix + name] = t.detach()
        children = d.get("_modules")
        for name, child in (children.items() if isinstance(children, Mapping) else ()):
            if isinstance(name, str) and isinstance(child, torch.nn.Module):
                walk(child, f"{prefix}{name}.", depth + 1)

    walk(module, "", 0)
    return out


def is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (``torch.jit.save``): a zip with ``constants.pkl``."""
    import zipfile

    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as zf:
            return any(n.split("/", 1)[-1] == "constants.pkl" for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
