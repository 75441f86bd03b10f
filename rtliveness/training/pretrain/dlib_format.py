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

The implementation is split by job and re-exported here, so ``dlib_format.X`` keeps working:
:mod:`.dlib_primitives` (primitives, tensors, :class:`ByteReader` / :class:`ByteWriter`),
:mod:`.dlib_layers` (the layer and network dataclasses), :mod:`.dlib_reader` (parsing),
:mod:`.dlib_writer` (serialising) and :mod:`.dlib_spec` (specs).
"""

from __future__ import annotations

from .dlib_layers import (
    CONV_MODE,
    FC_HAS_BIAS,
    FC_MODE,
    FC_NO_BIAS,
    AddPrev,
    Affine,
    AvgPool,
    Computational,  # noqa: F401
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
    Skip,
    Tag,
    TagOrSkip,
)
from .dlib_primitives import (
    DOUBLE_DIGITS,  # noqa: F401
    FLOAT_DIGITS,  # noqa: F401
    ByteReader,
    ByteWriter,
    DlibFormatError,
    DlibTensor,
    float_details,
)
from .dlib_reader import read_dnn_file, read_net, read_net_bytes
from .dlib_spec import apply_spec, net_spec
from .dlib_writer import write_dnn_file, write_net, write_net_bytes

# Private helpers, still importable from here for callers that used them.
from .dlib_layers import _Pool, _default_state_tensors, _split_params  # noqa: F401
from .dlib_primitives import _EXP_INF, _EXP_NAN, _EXP_NINF, _float_from_details  # noqa: F401
from .dlib_reader import _read_details, _read_input, _read_state  # noqa: F401
from .dlib_spec import _KIND, _TOKEN, _token  # noqa: F401
from .dlib_writer import _write_details, _write_input, _write_state  # noqa: F401

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
