"""Serialise a :class:`~.dlib_layers.DlibNet` (and a ``.dnn`` file's labels) byte for byte as
dlib would."""

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
    Fc,
    InputRGBImageSized,
    LayerState,
    MaxPool,
    Relu,
    Skip,
    Tag,
    TagOrSkip,
)
from .dlib_primitives import DOUBLE_DIGITS, FLOAT_DIGITS, ByteWriter, DlibFormatError

__all__ = ["write_net", "write_net_bytes", "write_dnn_file"]


def _write_details(w: ByteWriter, layer: Computational) -> None:
    w.write_string(layer.NAME)
    if isinstance(layer, Con):
        w.write_tensor(layer.params)
        for v in (layer.num_filters, layer.nr, layer.nc, layer.stride_y, layer.stride_x,
                  layer.padding_y, layer.padding_x):
            w.write_int(v)
        w.write_alias(layer.filters_shape)
        w.write_alias(layer.biases_shape)
        for v in (layer.learning_rate_multiplier, layer.weight_decay_multiplier,
                  layer.bias_learning_rate_multiplier, layer.bias_weight_decay_multiplier):
            w.write_float(v, DOUBLE_DIGITS)
    elif isinstance(layer, Affine):
        w.write_tensor(layer.params)
        w.write_alias(layer.gamma_shape)
        w.write_alias(layer.beta_shape)
        w.write_int(layer.mode)
    elif isinstance(layer, (Relu, AddPrev)):
        pass
    elif isinstance(layer, (MaxPool, AvgPool)):
        for v in (layer.nr, layer.nc, layer.stride_y, layer.stride_x, layer.padding_y, layer.padding_x):
            w.write_int(v)
    elif isinstance(layer, Fc):
        w.write_int(layer.num_outputs)
        w.write_int(layer.num_inputs)
        w.write_tensor(layer.params)
        w.write_alias(layer.weights_shape)
        w.write_alias(layer.biases_shape)
        w.write_int(layer.bias_mode)
        for v in (layer.learning_rate_multiplier, layer.weight_decay_multiplier,
                  layer.bias_learning_rate_multiplier, layer.bias_weight_decay_multiplier):
            w.write_float(v, DOUBLE_DIGITS)
    else:  # pragma: no cover - guarded by the Computational union
        raise DlibFormatError(f"cannot serialise {type(layer).__name__}")


def _write_state(w: ByteWriter, state: LayerState, on_input: bool) -> None:
    for flag in (state.setup_called, state.gradient_input_is_stale, state.output_getters_disabled):
        w.write_bool(flag)
    if len(state.tensors) != 3:
        raise DlibFormatError(f"an add_layer writes 3 state tensors, got {len(state.tensors)}")
    for t in state.tensors:
        w.write_tensor(t)
    if on_input and state.version >= 3:
        w.write_int(state.sample_expansion_factor if state.sample_expansion_factor is not None else 1)


def _write_input(w: ByteWriter, inp: InputRGBImageSized) -> None:
    w.write_string(inp.NAME)
    for v in (inp.avg_red, inp.avg_green, inp.avg_blue):
        w.write_float(float(np.float32(v)), FLOAT_DIGITS)
    w.write_int(inp.nr)
    w.write_int(inp.nc)


def write_net(w: ByteWriter, net: DlibNet) -> None:
    """Serialise ``net`` exactly as dlib would (tag/skip ids and add_prev tags are implied)."""
    if not net.layers:
        raise DlibFormatError("a network needs at least one layer")
    first = net.layers[0]
    if isinstance(first, (Tag, Skip, TagOrSkip)):
        raise DlibFormatError("the layer on the input must be computational")
    if net.loss is not None:
        w.write_int(net.loss_version)
        w.write_string(net.loss.NAME)
    for layer in reversed(net.layers):
        if isinstance(layer, (Tag, Skip, TagOrSkip)):
            w.write_int(1)
        else:
            if layer.state.version not in (2, 3) or (layer.state.version == 3 and layer is not first):
                raise DlibFormatError(f"unsupported add_layer version {layer.state.version}")
            w.write_int(layer.state.version)
    _write_input(w, net.input)
    for i, layer in enumerate(net.layers):
        if isinstance(layer, (Tag, Skip, TagOrSkip)):
            continue
        _write_details(w, layer)
        _write_state(w, layer.state, on_input=i == 0)


def write_dnn_file(path: str | Path, net: DlibNet, labels: Sequence[str] | None = None,
                   trailing: bytes = b"") -> None:
    """Write ``net`` (and, like dlib's ImageNet example, the labels) to ``path``."""
    w = ByteWriter()
    write_net(w, net)
    if labels is not None:
        w.write_int(len(labels))
        for s in labels:
            w.write_string(s)
    w.buf += trailing
    Path(path).write_bytes(w.getvalue())


def write_net_bytes(net: DlibNet) -> bytes:
    """``write_net`` into a fresh buffer."""
    w = ByteWriter()
    write_net(w, net)
    return w.getvalue()
