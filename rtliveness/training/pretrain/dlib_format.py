"""Reader and writer for dlib's binary serialisation, for the layer subset of dlib's ImageNet
ResNet-34 (``resnet34_1000_imagenet_classifier.dnn``) and similar plain classifier nets.

The format, as dlib's ``serialize.h`` / ``dnn/core.h`` / ``dnn/layers.h`` / ``dnn/input.h``
write it:

Primitives
    integer   one control byte, then ``n`` magnitude bytes, little endian. Control byte: bit 7 is
              the sign (1 = negative), bits 0-3 hold ``n``, bits 4-6 are reserved (zero). Every
              integer uses the fewest bytes, at least one (zero is ``01 00``).
    bool      the ASCII character ``'1'`` or ``'0'``.
    float     a ``float_details`` pair: the signed integer *mantissa* then the signed integer
              *exponent*; the value is ``mantissa * 2**exponent``. Exponents 32000, 32001, 32002
              mean +inf, -inf and NaN. The writer builds the pair from ``frexp`` with 24 (float)
              or 53 (double) mantissa bits and then drops trailing zero mantissa bytes, so the
              encoding of a value is canonical.
    string    an integer length, then the raw bytes.
    tensor    ``resizable_tensor``: integer version, then ``num_samples, k, nr, nc``, then the
              ``n*k*nr*nc`` values; version 1 stores each as a dlib float, version 2 as raw
              little-endian IEEE float32.
    alias     ``alias_tensor`` (a view's shape): integer version 1, then ``num_samples, k, nr, nc``.

Networks
    ``serialize(net)`` recurses from the loss layer down to the input layer: each wrapper
    writes its integer version and then its subnetwork, so a file starts with one version per
    layer, outermost first (``add_loss_layer`` 1, ``add_layer`` 2, tag and skip layers 1; the
    ``add_layer`` directly on the input layer 2 or 3). Then, innermost first, the input layer's
    details and, for every computational layer, its details (a name string such as ``con_4``
    followed by its fields), three bools (setup called, gradient input stale, output getters
    disabled) and its state tensors (``x_grad``, ``cached_output`` and ``params_grad``; for the
    layer on the input: ``x_grad``, ``cached_output``, ``grad_final`` and, in version 3, the
    sample expansion factor). Tag and skip layers write nothing but their version, so which of
    them is which, and which tag an ``add_prev`` layer adds, is not in the file: it is the C++
    network *type*. Here that type is an optional *spec*, a list of tokens outermost first
    (``"fc"``, ``"add_prev2"``, ``"tag1"``, ``"skip1"``, ...), see :func:`apply_spec`.

The dlib ``dnn_imagenet_ex`` program writes the class labels (``std::vector<std::string>``)
after the network; :func:`read_dnn_file` returns them.

Supported layer details: ``input_rgb_image_sized``, ``con_4``, ``affine_``, ``relu_``,
``add_prev_``, ``max_pool_2``, ``avg_pool_2``, ``fc_2`` and the loss ``loss_multiclass_log_``.
Anything else raises :class:`DlibFormatError` naming the layer and the byte offset.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence, Union

import numpy as np

__all__ = [
    "DlibFormatError",
    "DlibTensor",
    "LayerState",
    "InputRGBImageSized",
    "Con",
    "Affine",
    "Relu",
    "AddPrev",
    "MaxPool",
    "AvgPool",
    "Fc",
    "Tag",
    "Skip",
    "TagOrSkip",
    "LossMulticlassLog",
    "Layer",
    "DlibNet",
    "DnnFile",
    "CONV_MODE",
    "FC_MODE",
    "FC_HAS_BIAS",
    "FC_NO_BIAS",
    "ByteReader",
    "ByteWriter",
    "float_details",
    "read_net",
    "write_net",
    "read_net_bytes",
    "write_net_bytes",
    "read_dnn_file",
    "write_dnn_file",
    "apply_spec",
    "net_spec",
]

#: ``affine_`` / ``bn_`` modes (dlib ``layer_mode``).
CONV_MODE = 0
FC_MODE = 1
#: ``fc_`` bias modes (dlib ``fc_bias_mode``).
FC_HAS_BIAS = 0
FC_NO_BIAS = 1

#: Mantissa bits dlib uses when it converts a C++ ``float`` / ``double`` to ``float_details``.
FLOAT_DIGITS = 24
DOUBLE_DIGITS = 53

_EXP_INF, _EXP_NINF, _EXP_NAN = 32000, 32001, 32002


class DlibFormatError(ValueError):
    """The bytes are not a dlib serialisation this module understands."""


# ---------------------------------------------------------------------------------------------
# primitives
# ---------------------------------------------------------------------------------------------


def float_details(value: float, digits: int) -> tuple[int, int]:
    """dlib's ``(mantissa, exponent)`` for ``value`` converted from a C++ type with ``digits``
    mantissa bits (24 for ``float``, 53 for ``double``)."""
    if math.isnan(value):
        return 0, _EXP_NAN
    if math.isinf(value):
        return 0, _EXP_INF if value > 0 else _EXP_NINF
    frac, exp = math.frexp(value)
    mantissa = int(frac * (1 << digits))  # exact: frac has at most `digits` significant bits
    exponent = exp - digits
    for _ in range(8):
        if mantissa & 0xFF:
            break
        mantissa >>= 8  # arithmetic shift: exact because the low byte is zero
        exponent += 8
    return mantissa, exponent


def _float_from_details(mantissa: int, exponent: int) -> float:
    if exponent == _EXP_INF:
        return math.inf
    if exponent == _EXP_NINF:
        return -math.inf
    if exponent == _EXP_NAN:
        return math.nan
    return math.ldexp(float(mantissa), exponent)


class ByteReader:
    """Sequential reader of dlib primitives over an in-memory buffer."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self.data = memoryview(data).cast("B")
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def _take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise DlibFormatError(f"truncated data: {what} needs {n} bytes at offset {self.pos}, "
                                  f"{self.remaining()} left")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def peek_byte(self) -> int:
        if self.pos >= len(self.data):
            raise DlibFormatError(f"truncated data at offset {self.pos}")
        return int(self.data[self.pos])

    def read_int(self) -> int:
        start = self.pos
        ctrl = int(self._take(1, "integer control byte")[0])
        if ctrl & 0x70:
            raise DlibFormatError(f"bad integer control byte 0x{ctrl:02x} at offset {start}")
        size = ctrl & 0x0F
        if size > 8:
            raise DlibFormatError(f"integer of {size} bytes at offset {start}")
        value = int.from_bytes(bytes(self._take(size, "integer")), "little")
        return -value if ctrl & 0x80 else value

    def peek_int(self) -> int:
        pos = self.pos
        try:
            return self.read_int()
        finally:
            self.pos = pos

    def read_bool(self) -> bool:
        start = self.pos
        ch = int(self._take(1, "bool")[0])
        if ch == ord("1"):
            return True
        if ch == ord("0"):
            return False
        raise DlibFormatError(f"bad bool byte 0x{ch:02x} at offset {start}")

    def read_float(self) -> float:
        start = self.pos
        if self.peek_byte() & 0x70:
            raise DlibFormatError(f"ASCII (pre-2013) float encoding at offset {start} is not supported")
        mantissa = self.read_int()
        exponent = self.read_int()
        return _float_from_details(mantissa, exponent)

    def read_string(self) -> str:
        n = self.read_int()
        return bytes(self._take(n, "string")).decode("utf-8")

    def read_tensor(self) -> DlibTensor:
        start = self.pos
        version = self.read_int()
        if version not in (1, 2):
            raise DlibFormatError(f"unknown tensor version {version} at offset {start}")
        shape = tuple(self.read_int() for _ in range(4))
        if min(shape) < 0:
            raise DlibFormatError(f"negative tensor shape {shape} at offset {start}")
        count = int(np.prod(shape, dtype=np.int64))
        if version == 2:
            raw = self._take(4 * count, "tensor data")
            data = np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)
        else:
            data = np.array([self.read_float() for _ in range(count)], np.float32).reshape(shape)
        return DlibTensor(data, version)

    def read_alias(self) -> tuple[int, int, int, int]:
        start = self.pos
        version = self.read_int()
        if version != 1:
            raise DlibFormatError(f"unknown alias_tensor version {version} at offset {start}")
        n, k, nr, nc = (self.read_int() for _ in range(4))
        return (n, k, nr, nc)


class ByteWriter:
    """Appends dlib primitives to a ``bytearray``."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def getvalue(self) -> bytes:
        return bytes(self.buf)

    def write_int(self, value: int) -> None:
        value = int(value)
        mag = -value if value < 0 else value
        body = mag.to_bytes(max(1, (mag.bit_length() + 7) // 8), "little")
        if len(body) > 8:
            raise DlibFormatError(f"integer {value} does not fit in 8 bytes")
        self.buf.append(len(body) | (0x80 if value < 0 else 0))
        self.buf += body

    def write_bool(self, value: bool) -> None:
        self.buf += b"1" if value else b"0"

    def write_float(self, value: float, digits: int = FLOAT_DIGITS) -> None:
        mantissa, exponent = float_details(float(value), digits)
        self.write_int(mantissa)
        self.write_int(exponent)

    def write_string(self, value: str) -> None:
        raw = value.encode("utf-8")
        self.write_int(len(raw))
        self.buf += raw

    def write_tensor(self, tensor: DlibTensor) -> None:
        self.write_int(tensor.version)
        for d in tensor.data.shape:
            self.write_int(d)
        if tensor.version == 2:
            self.buf += np.ascontiguousarray(tensor.data, dtype="<f4").tobytes()
        elif tensor.version == 1:
            for v in tensor.data.reshape(-1).tolist():
                self.write_float(v, FLOAT_DIGITS)
        else:
            raise DlibFormatError(f"unknown tensor version {tensor.version}")

    def write_alias(self, shape: Sequence[int]) -> None:
        if len(shape) != 4:
            raise DlibFormatError(f"alias_tensor shape must have 4 dims, got {tuple(shape)}")
        self.write_int(1)
        for d in shape:
            self.write_int(d)


# ---------------------------------------------------------------------------------------------
# tensors and per-layer bookkeeping
# ---------------------------------------------------------------------------------------------


@dataclass
class DlibTensor:
    """A ``resizable_tensor``: float32 data shaped ``(num_samples, k, nr, nc)`` and the
    serialisation version it was (or will be) written with (2 = raw float32, 1 = dlib floats)."""

    data: np.ndarray
    version: int = 2

    def __post_init__(self) -> None:
        arr = np.asarray(self.data, dtype=np.float32)
        if arr.ndim != 4:
            raise DlibFormatError(f"a dlib tensor has 4 dims, got shape {arr.shape}")
        self.data = arr

    @classmethod
    def empty(cls, version: int = 2) -> DlibTensor:
        return cls(np.zeros((0, 0, 0, 0), np.float32), version)

    @classmethod
    def column(cls, values: np.ndarray, version: int = 2) -> DlibTensor:
        """A flat parameter vector stored dlib-style as an ``(n, 1, 1, 1)`` tensor."""
        flat = np.asarray(values, np.float32).reshape(-1)
        return cls(flat.reshape(-1, 1, 1, 1), version)

    @property
    def size(self) -> int:
        return int(self.data.size)

    def flat(self) -> np.ndarray:
        return self.data.reshape(-1)


def _default_state_tensors() -> tuple[DlibTensor, ...]:
    return (DlibTensor.empty(), DlibTensor.empty(), DlibTensor.empty())


@dataclass
class LayerState:
    """The ``add_layer`` bookkeeping written after a layer's details: its version, three flags
    and its state tensors (empty in a cleaned network). ``sample_expansion_factor`` is only
    written by version-3 ``add_layer`` objects sitting directly on the input layer."""

    version: int = 2
    setup_called: bool = True
    gradient_input_is_stale: bool = True
    output_getters_disabled: bool = False
    tensors: tuple[DlibTensor, ...] = field(default_factory=_default_state_tensors)
    sample_expansion_factor: int | None = None


# ---------------------------------------------------------------------------------------------
# layer details
# ---------------------------------------------------------------------------------------------


def _split_params(params: DlibTensor, *shapes: Sequence[int]) -> list[np.ndarray]:
    flat = params.flat()
    out: list[np.ndarray] = []
    off = 0
    for shape in shapes:
        n = int(np.prod(shape))
        if off + n > flat.size:
            raise DlibFormatError(f"parameter views {shapes} exceed the {flat.size} parameters")
        out.append(flat[off:off + n].reshape(shape))
        off += n
    return out


@dataclass
class InputRGBImageSized:
    """``input_rgb_image_sized<NR, NC>``: RGB pixels, ``(value - avg) / 256`` per channel, in
    R, G, B channel order; images must be exactly ``nr x nc``."""

    avg_red: float = 122.782
    avg_green: float = 117.001
    avg_blue: float = 104.298
    nr: int = 227
    nc: int = 227

    NAME = "input_rgb_image_sized"

    def __post_init__(self) -> None:
        # dlib keeps the averages as C++ floats
        self.avg_red, self.avg_green, self.avg_blue = (float(np.float32(v)) for v in self.mean)

    @property
    def mean(self) -> tuple[float, float, float]:
        return (self.avg_red, self.avg_green, self.avg_blue)


@dataclass
class Con:
    """``con_`` (version ``con_4``): 2-D cross-correlation with bias. ``params`` holds the filters
    ``(num_filters, k, nr, nc)`` then the biases ``(1, num_filters, 1, 1)``."""

    params: DlibTensor
    num_filters: int
    nr: int
    nc: int
    stride_y: int
    stride_x: int
    padding_y: int
    padding_x: int
    filters_shape: tuple[int, int, int, int]
    biases_shape: tuple[int, int, int, int]
    learning_rate_multiplier: float = 1.0
    weight_decay_multiplier: float = 1.0
    bias_learning_rate_multiplier: float = 1.0
    bias_weight_decay_multiplier: float = 0.0
    state: LayerState = field(default_factory=LayerState)

    NAME = "con_4"

    @classmethod
    def from_arrays(cls, weight: np.ndarray, bias: np.ndarray, stride: int | tuple[int, int] = 1,
                    padding: int | tuple[int, int] = 0) -> Con:
        """Build from an OIHW weight and a bias vector (dlib's own layout)."""
        w = np.asarray(weight, np.float32)
        b = np.asarray(bias, np.float32).reshape(-1)
        if w.ndim != 4 or b.size != w.shape[0]:
            raise DlibFormatError(f"con weight {w.shape} / bias {b.shape} mismatch")
        sy, sx = (stride, stride) if isinstance(stride, int) else stride
        py, px = (padding, padding) if isinstance(padding, int) else padding
        f, k, r, c = w.shape
        return cls(DlibTensor.column(np.concatenate([w.reshape(-1), b])), f, r, c, sy, sx, py, px,
                   (f, k, r, c), (1, f, 1, 1))

    @property
    def weight(self) -> np.ndarray:
        """Filters ``(num_filters, k, nr, nc)`` — the same layout as PyTorch's OIHW."""
        return _split_params(self.params, self.filters_shape)[0]

    @property
    def bias(self) -> np.ndarray:
        return _split_params(self.params, self.filters_shape, self.biases_shape)[1].reshape(-1)


@dataclass
class Affine:
    """``affine_``: ``y = x * gamma + beta`` — a batch norm folded at save time
    (``gamma = g / sqrt(var + eps)``, ``beta = b - mean * gamma``). In ``CONV_MODE`` gamma and
    beta are per channel ``(1, k, 1, 1)``; in ``FC_MODE`` per element ``(1, k, nr, nc)``."""

    params: DlibTensor
    gamma_shape: tuple[int, int, int, int]
    beta_shape: tuple[int, int, int, int]
    mode: int = CONV_MODE
    state: LayerState = field(default_factory=LayerState)

    NAME = "affine_"

    @classmethod
    def from_arrays(cls, gamma: np.ndarray, beta: np.ndarray, mode: int = CONV_MODE) -> Affine:
        g = np.asarray(gamma, np.float32)
        b = np.asarray(beta, np.float32)
        if g.shape != b.shape:
            raise DlibFormatError(f"affine gamma {g.shape} and beta {b.shape} differ")
        shape = (1, g.size, 1, 1) if g.ndim == 1 else (1, *g.shape[-3:])
        return cls(DlibTensor.column(np.concatenate([g.reshape(-1), b.reshape(-1)])), shape, shape, mode)

    @property
    def gamma(self) -> np.ndarray:
        return _split_params(self.params, self.gamma_shape)[0]

    @property
    def beta(self) -> np.ndarray:
        return _split_params(self.params, self.gamma_shape, self.beta_shape)[1]


@dataclass
class Relu:
    """``relu_``: ``max(x, 0)``."""

    state: LayerState = field(default_factory=LayerState)

    NAME = "relu_"


@dataclass
class AddPrev:
    """``add_prev_<tagN>``: element-wise sum of the layer below and the nearest ``tagN`` below;
    the output has the larger of each dimension and the smaller tensor is zero padded (so a
    64-channel shortcut added to a 128-channel block fills channels 64..127 with the block
    only). The tag id is not serialised (``None`` until a spec is applied)."""

    tag: int | None = None
    state: LayerState = field(default_factory=LayerState)

    NAME = "add_prev_"


@dataclass
class _Pool:
    nr: int
    nc: int
    stride_y: int
    stride_x: int
    padding_y: int = 0
    padding_x: int = 0
    state: LayerState = field(default_factory=LayerState)

    @property
    def everything(self) -> bool:
        """``nr == 0`` / ``nc == 0`` mean "the whole input" (``*_pool_everything``)."""
        return self.nr == 0 or self.nc == 0


@dataclass
class MaxPool(_Pool):
    """``max_pool_`` (version ``max_pool_2``); output ``1 + (in + 2*pad - window) // stride``."""

    NAME = "max_pool_2"


@dataclass
class AvgPool(_Pool):
    """``avg_pool_`` (version ``avg_pool_2``); ``nr = nc = 0`` is ``avg_pool_everything``."""

    NAME = "avg_pool_2"


@dataclass
class Fc:
    """``fc_`` (version ``fc_2``): ``y = flatten(x) @ W + b``. ``params`` holds ``W`` as
    ``(num_inputs, num_outputs)`` (rows = inputs) followed, with ``FC_HAS_BIAS``, by ``b``."""

    num_outputs: int
    num_inputs: int
    params: DlibTensor
    weights_shape: tuple[int, int, int, int]
    biases_shape: tuple[int, int, int, int]
    bias_mode: int = FC_HAS_BIAS
    learning_rate_multiplier: float = 1.0
    weight_decay_multiplier: float = 1.0
    bias_learning_rate_multiplier: float = 1.0
    bias_weight_decay_multiplier: float = 0.0
    state: LayerState = field(default_factory=LayerState)

    NAME = "fc_2"

    @classmethod
    def from_arrays(cls, weight_in_out: np.ndarray, bias: np.ndarray | None) -> Fc:
        """Build from ``W`` shaped ``(num_inputs, num_outputs)`` and an optional bias."""
        w = np.asarray(weight_in_out, np.float32)
        n_in, n_out = w.shape
        if bias is None:
            return cls(n_out, n_in, DlibTensor(w.reshape(n_in, n_out, 1, 1)), (n_in, n_out, 1, 1),
                       (0, 0, 0, 0), FC_NO_BIAS)
        b = np.asarray(bias, np.float32).reshape(1, n_out)
        return cls(n_out, n_in, DlibTensor(np.concatenate([w, b]).reshape(n_in + 1, n_out, 1, 1)),
                   (n_in, n_out, 1, 1), (1, n_out, 1, 1), FC_HAS_BIAS)

    @property
    def weight(self) -> np.ndarray:
        """``W`` as ``(num_inputs, num_outputs)``."""
        return _split_params(self.params, self.weights_shape)[0].reshape(self.num_inputs, self.num_outputs)

    @property
    def bias(self) -> np.ndarray | None:
        if self.bias_mode == FC_NO_BIAS:
            return None
        return _split_params(self.params, self.weights_shape, self.biases_shape)[1].reshape(-1)


@dataclass
class Tag:
    """``tagN``: marks its input for a later ``add_prev_<tagN>`` / ``skipN``; identity."""

    id: int


@dataclass
class Skip:
    """``skipN``: outputs the output of the nearest ``tagN`` below, dropping its input."""

    id: int


@dataclass
class TagOrSkip:
    """A version-1 wrapper read without a spec: a tag or a skip layer (the file cannot say)."""


@dataclass
class LossMulticlassLog:
    """``loss_multiclass_log_`` (no parameters)."""

    NAME = "loss_multiclass_log_"


Computational = Union[Con, Affine, Relu, AddPrev, MaxPool, AvgPool, Fc]
Layer = Union[Con, Affine, Relu, AddPrev, MaxPool, AvgPool, Fc, Tag, Skip, TagOrSkip]


@dataclass
class DlibNet:
    """A parsed network: the input layer, the layers in *execution order* (the one on the input
    first, the one under the loss last) and the loss (``None`` for a bare ``add_layer`` stack)."""

    input: InputRGBImageSized
    layers: list[Layer]
    loss: LossMulticlassLog | None = None
    loss_version: int = 1


@dataclass
class DnnFile:
    """A ``.dnn`` file: the network and whatever followed it (dlib's ImageNet example stores
    the class labels); ``trailing`` holds bytes that are not a string list."""

    net: DlibNet
    labels: list[str] | None = None
    trailing: bytes = b""


# ---------------------------------------------------------------------------------------------
# details (de)serialisation
# ---------------------------------------------------------------------------------------------


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


def _read_state(r: ByteReader, version: int, on_input: bool) -> LayerState:
    flags = (r.read_bool(), r.read_bool(), r.read_bool())
    tensors = (r.read_tensor(), r.read_tensor(), r.read_tensor())
    sef = r.read_int() if on_input and version >= 3 else None
    return LayerState(version, *flags, tensors=tensors, sample_expansion_factor=sef)


def _write_state(w: ByteWriter, state: LayerState, on_input: bool) -> None:
    for flag in (state.setup_called, state.gradient_input_is_stale, state.output_getters_disabled):
        w.write_bool(flag)
    if len(state.tensors) != 3:
        raise DlibFormatError(f"an add_layer writes 3 state tensors, got {len(state.tensors)}")
    for t in state.tensors:
        w.write_tensor(t)
    if on_input and state.version >= 3:
        w.write_int(state.sample_expansion_factor if state.sample_expansion_factor is not None else 1)


def _read_input(r: ByteReader) -> InputRGBImageSized:
    start = r.pos
    name = r.read_string()
    if name != InputRGBImageSized.NAME:
        raise DlibFormatError(f"unsupported dlib input layer {name!r} at offset {start}")
    avg = [float(np.float32(r.read_float())) for _ in range(3)]
    nr, nc = r.read_int(), r.read_int()
    return InputRGBImageSized(avg[0], avg[1], avg[2], nr, nc)


def _write_input(w: ByteWriter, inp: InputRGBImageSized) -> None:
    w.write_string(inp.NAME)
    for v in (inp.avg_red, inp.avg_green, inp.avg_blue):
        w.write_float(float(np.float32(v)), FLOAT_DIGITS)
    w.write_int(inp.nr)
    w.write_int(inp.nc)


# ---------------------------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# specs (the C++ network type)
# ---------------------------------------------------------------------------------------------

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


def write_net_bytes(net: DlibNet) -> bytes:
    """``write_net`` into a fresh buffer."""
    w = ByteWriter()
    write_net(w, net)
    return w.getvalue()


def read_net_bytes(data: bytes, spec: Sequence[str] | None = None) -> DlibNet:
    """``read_net`` over a whole buffer; trailing bytes are an error."""
    r = ByteReader(data)
    net = read_net(r, spec)
    if r.remaining():
        raise DlibFormatError(f"{r.remaining()} unread bytes after the network")
    return net
