"""Parse dlib-serialised networks and ``.dnn`` files into :class:`~.dlib_layers.DlibNet`."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .dlib_layers import (
    AddPrev,
    Affine,
    AvgPool,
    Computational,
    Con,
    DlibNet,
    DnnFile,
    Fc,
    InputRGBImageSized,
    Layer,
    LayerState,
    LossMulticlassLog,
    MaxPool,
    Relu,
    TagOrSkip,
)
from .dlib_primitives import ByteReader, DlibFormatError
from .dlib_spec import apply_spec

__all__ = ["read_net", "read_net_bytes", "read_dnn_file"]


def _read_details(r: ByteReader) -> Computational:
    start = r.pos
    name = r.read_string()
    if name == Con.NAME:
        params = r.read_tensor()
        num_filters, nr, nc, sy, sx, py, px = (r.read_int() for _ in range(7))
        filters, biases = r.read_alias(), r.read_alias()
        mults = [r.read_float() for _ in range(4)]
        return Con(params, num_filters, nr, nc, sy, sx, py, px, filters, biases, *mults)
    if name == Affine.NAME:
        params = r.read_tensor()
        gamma, beta = r.read_alias(), r.read_alias()
        mode = r.read_int()
        return Affine(params, gamma, beta, mode)
    if name == Relu.NAME:
        return Relu()
    if name == AddPrev.NAME:
        return AddPrev()
    if name in (MaxPool.NAME, AvgPool.NAME):
        nr, nc, sy, sx, py, px = (r.read_int() for _ in range(6))
        cls = MaxPool if name == MaxPool.NAME else AvgPool
        return cls(nr, nc, sy, sx, py, px)
    if name == Fc.NAME:
        n_out, n_in = r.read_int(), r.read_int()
        params = r.read_tensor()
        weights, biases = r.read_alias(), r.read_alias()
        bias_mode = r.read_int()
        mults = [r.read_float() for _ in range(4)]
        return Fc(n_out, n_in, params, weights, biases, bias_mode, *mults)
    raise DlibFormatError(f"unsupported dlib layer {name!r} at offset {start}")


def _read_state(r: ByteReader, version: int, on_input: bool) -> LayerState:
    flags = (r.read_bool(), r.read_bool(), r.read_bool())
    tensors = (r.read_tensor(), r.read_tensor(), r.read_tensor())
    sef = r.read_int() if on_input and version >= 3 else None
    return LayerState(version, *flags, tensors=tensors, sample_expansion_factor=sef)


def _read_input(r: ByteReader) -> InputRGBImageSized:
    start = r.pos
    name = r.read_string()
    if name != InputRGBImageSized.NAME:
        raise DlibFormatError(f"unsupported dlib input layer {name!r} at offset {start}")
    avg = [float(np.float32(r.read_float())) for _ in range(3)]
    nr, nc = r.read_int(), r.read_int()
    return InputRGBImageSized(avg[0], avg[1], avg[2], nr, nc)


def read_net(r: ByteReader, spec: Sequence[str] | None = None) -> DlibNet:
    """Parse one serialised network (``add_loss_layer`` or bare ``add_layer`` stack) at the
    reader's position. With ``spec`` (tokens outermost first, see :func:`apply_spec`) tag and
    skip layers and ``add_prev`` tag ids are resolved and every layer kind is checked."""
    loss: LossMulticlassLog | None = None
    loss_version = 1
    # A loss layer writes its version then its (string) details; an add_layer writes its
    # version then its subnetwork, i.e. another version (1..3) or the input layer's name.
    first = r.pos
    version = r.read_int()
    name = r.read_string() if r.peek_int() > 3 else ""
    if name == LossMulticlassLog.NAME:
        loss, loss_version = LossMulticlassLog(), version
    elif name.startswith("loss_"):
        raise DlibFormatError(f"unsupported dlib loss layer {name!r} at offset {first}")
    else:
        r.pos = first
    # Wrapper versions, outermost first, down to the input layer's name string.
    headers: list[int] = []
    while True:
        start = r.pos
        v = r.read_int()
        if v not in (1, 2, 3):
            raise DlibFormatError(f"unexpected layer version {v} at offset {start}")
        headers.append(v)
        if r.peek_int() > 3:
            break
    if not headers:
        raise DlibFormatError("no layers found")
    if headers[-1] not in (2, 3):
        raise DlibFormatError("the layer on the input must be a computational add_layer "
                              f"(version 2/3), found version {headers[-1]}")
    inp = _read_input(r)
    layers: list[Layer] = []
    for i, v in enumerate(reversed(headers)):
        on_input = i == 0
        if v == 1 and not on_input:
            layers.append(TagOrSkip())
            continue
        if v == 1:
            raise DlibFormatError("add_layer version 1 (dlib before 19.2) is not supported")
        details = _read_details(r)
        details.state = _read_state(r, v, on_input)
        layers.append(details)
    net = DlibNet(inp, layers, loss, loss_version)
    return apply_spec(net, spec) if spec is not None else net


def read_dnn_file(path: str | Path, spec: Sequence[str] | None = None) -> DnnFile:
    """Read a ``.dnn`` file: the network, then the label list if one follows."""
    data = Path(path).read_bytes()
    r = ByteReader(data)
    net = read_net(r, spec)
    labels: list[str] | None = None
    trailing = b""
    if r.remaining():
        pos = r.pos
        try:
            n = r.read_int()
            if n < 0:
                raise DlibFormatError("negative label count")
            labels = [r.read_string() for _ in range(n)]
        except (DlibFormatError, UnicodeDecodeError):
            r.pos, labels = pos, None
        trailing = bytes(r.data[r.pos:])
    return DnnFile(net, labels, trailing)


def read_net_bytes(data: bytes, spec: Sequence[str] | None = None) -> DlibNet:
    """``read_net`` over a whole buffer; trailing bytes are an error."""
    r = ByteReader(data)
    net = read_net(r, spec)
    if r.remaining():
        raise DlibFormatError(f"{r.remaining()} unread bytes after the network")
    return net
