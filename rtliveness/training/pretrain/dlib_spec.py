"""Specs: the C++ network type as tokens (``"fc"``, ``"add_prev2"``, ``"tag1"``, ...), which
resolve the tag/skip layers and ``add_prev`` tag ids a dlib file does not record."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Sequence

from .dlib_layers import AddPrev, Affine, AvgPool, Con, DlibNet, Fc, Layer, MaxPool, Relu, Skip, Tag, TagOrSkip
from .dlib_primitives import DlibFormatError

__all__ = ["apply_spec", "net_spec"]

_TOKEN = re.compile(r"^(tag|skip|add_prev)(\d+)$")
_KIND = {"con": Con, "affine": Affine, "relu": Relu, "max_pool": MaxPool, "avg_pool": AvgPool, "fc": Fc}


def _token(layer: Layer) -> str:
    if isinstance(layer, Tag):
        return f"tag{layer.id}"
    if isinstance(layer, Skip):
        return f"skip{layer.id}"
    if isinstance(layer, TagOrSkip):
        return "tag_or_skip"
    if isinstance(layer, AddPrev):
        return f"add_prev{layer.tag}" if layer.tag is not None else "add_prev"
    for name, cls in _KIND.items():
        if type(layer) is cls:
            return name
    raise DlibFormatError(f"no token for {type(layer).__name__}")  # pragma: no cover


def net_spec(net: DlibNet) -> list[str]:
    """The spec tokens of ``net``, outermost first (the order of a dlib type / a printed net)."""
    return [_token(layer) for layer in reversed(net.layers)]


def apply_spec(net: DlibNet, spec: Sequence[str]) -> DlibNet:
    """Return a copy of ``net`` with tag/skip layers and add_prev tag ids taken from ``spec``.

    ``spec`` lists the layers under the loss, outermost first, the way the C++ type nests them
    (``fc<avg_pool<relu<add_prev1<...>>>>`` → ``["fc", "avg_pool", "relu", "add_prev1", ...]``):
    ``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``, ``fc``, ``add_prevN``, ``tagN``
    and ``skipN``. Every computational layer must match its token; a mismatch raises
    :class:`DlibFormatError` naming the position.
    """
    tokens = list(reversed(list(spec)))
    if len(tokens) != len(net.layers):
        raise DlibFormatError(f"spec has {len(tokens)} layers, the file {len(net.layers)}")
    out: list[Layer] = []
    for i, (tok, layer) in enumerate(zip(tokens, net.layers)):
        pos = len(tokens) - 1 - i  # index in the outermost-first spec
        m = _TOKEN.match(tok)
        if m and m.group(1) in ("tag", "skip"):
            if not isinstance(layer, (Tag, Skip, TagOrSkip)):
                raise DlibFormatError(f"spec[{pos}] = {tok!r} but the file has {type(layer).__name__} there")
            out.append(Tag(int(m.group(2))) if m.group(1) == "tag" else Skip(int(m.group(2))))
        elif m:  # add_prevN
            if not isinstance(layer, AddPrev):
                raise DlibFormatError(f"spec[{pos}] = {tok!r} but the file has {type(layer).__name__} there")
            out.append(replace(layer, tag=int(m.group(2))))
        else:
            cls = _KIND.get(tok)
            if cls is None:
                raise DlibFormatError(f"unknown spec token {tok!r} at spec[{pos}]")
            if type(layer) is not cls:
                raise DlibFormatError(f"spec[{pos}] = {tok!r} but the file has {type(layer).__name__} there")
            out.append(layer)
    return replace(net, layers=out)
