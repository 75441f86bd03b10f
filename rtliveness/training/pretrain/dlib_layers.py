"""The in-memory description of a dlib network: one dataclass per supported layer (with its
parameters and ``add_layer`` bookkeeping), the input and loss layers, :class:`DlibNet` and
:class:`DnnFile`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Union

import numpy as np

from .dlib_primitives import DlibFormatError, DlibTensor

__all__ = [
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
    "Computational",
    "Layer",
    "DlibNet",
    "DnnFile",
    "CONV_MODE",
    "FC_MODE",
    "FC_HAS_BIAS",
    "FC_NO_BIAS",
]

#: ``affine_`` / ``bn_`` modes (dlib ``layer_mode``).
CONV_MODE = 0
FC_MODE = 1
#: ``fc_`` bias modes (dlib ``fc_bias_mode``).
FC_HAS_BIAS = 0
FC_NO_BIAS = 1


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
