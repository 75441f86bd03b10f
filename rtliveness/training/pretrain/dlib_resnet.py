"""dlib networks in PyTorch, and dlib's ImageNet ResNet-34 in particular.

:class:`DlibNetModule` runs any parsed :class:`~.dlib_format.DlibNet` whose tags are resolved,
layer by layer in dlib's execution order, with dlib's semantics:

* input ``input_rgb_image_sized``: RGB channel order, ``(pixel - avg) / 256`` with the averages
  stored in the file (122.782, 117.001, 104.298 for the ImageNet net) — done by
  :func:`preprocess` / :func:`dlib_normalize`, the module itself takes the normalised tensor;
* ``con_``: cross-correlation with explicit padding (dlib's default is 0 for strided layers),
  output ``1 + (in + 2*pad - k) // stride``; filters are OIHW like PyTorch's;
* ``affine_``: ``x * gamma + beta`` — batch norm folded at save time (per channel in conv mode);
* ``add_prev_``: sum with the nearest tagged tensor below, the smaller one zero padded in every
  dimension (dlib's ``tt::add`` with differently sized operands) — this is how the downsampling
  blocks add a 64-channel average-pooled shortcut to a 128-channel block output;
* ``max_pool_`` / ``avg_pool_``: ``nr == 0`` / ``nc == 0`` pool over the whole input; padded
  average pooling excludes the padding (not used by the ImageNet net, which has no pooling
  padding);
* ``fc_``: ``flatten(x) @ W + b`` with ``W`` stored ``(inputs, outputs)``;
* ``tagN`` / ``skipN``: remember / recall tensors.

The ImageNet ResNet-34 (``dnn_imagenet_ex.cpp``) is ``fc<1000, avg_pool_everything<...>>`` over
16 residual blocks (3, 4, 6, 3) at 64/128/256/512 channels, a 7x7/2 conv stem and a 3x3/2 max
pool, on 227x227 inputs; the downsampling blocks use a 2x2/2 average-pooled identity shortcut
(no projection) whose missing channels are zero. Its penultimate output is a 512-d average
pooled feature (6x6 spatial before pooling).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .dlib_format import (
    CONV_MODE,
    AddPrev,
    Affine,
    AvgPool,
    Con,
    DlibFormatError,
    DlibNet,
    Fc,
    InputRGBImageSized,
    MaxPool,
    Relu,
    Skip,
    Tag,
    TagOrSkip,
    read_dnn_file,
)

__all__ = [
    "DLIB_IMAGENET_MEAN",
    "DLIB_INPUT_SCALE",
    "dlib_resnet_spec",
    "resnet34_imagenet_spec",
    "dlib_normalize",
    "preprocess",
    "DlibNetModule",
    "DlibResNet",
    "load_dlib_resnet34",
]

#: dlib's default ``input_rgb_image`` channel averages (R, G, B), 0..255 scale.
DLIB_IMAGENET_MEAN: tuple[float, float, float] = (122.782, 117.001, 104.298)
#: dlib divides ``pixel - avg`` by 256 (not 255, and no per-channel std).
DLIB_INPUT_SCALE = 1.0 / 256.0


# ---------------------------------------------------------------------------------------------
# the C++ network type, as a spec
# ---------------------------------------------------------------------------------------------


def _block() -> list[str]:
    # block<N,BN,stride> = BN<con<N,3,3,1,1, relu<BN<con<N,3,3,stride,stride, SUBNET>>>>>
    return ["affine", "con", "relu", "affine", "con"]


def dlib_resnet_spec(blocks_per_stage: Sequence[int] = (3, 4, 6, 3)) -> list[str]:
    """Spec tokens (outermost first, see :func:`~.dlib_format.apply_spec`) of the dlib ImageNet
    ResNet family of ``dnn_imagenet_ex.cpp``:

    ``ares<N>      = relu<add_prev1<block<N,1,tag1<SUBNET>>>>``
    ``ares_down<N> = relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,2,tag1<SUBNET>>>>>>>``

    under ``fc<avg_pool_everything<...>>`` and over ``max_pool<3,3,2,2,relu<affine<con<64,7,7,2,2,
    input>>>>``; every stage but the first starts (innermost) with one ``ares_down``.
    """
    ares = ["relu", "add_prev1", *_block(), "tag1"]
    ares_down = ["relu", "add_prev2", "avg_pool", "skip1", "tag2", *_block(), "tag1"]
    tokens = ["fc", "avg_pool"]
    for stage in reversed(range(len(blocks_per_stage))):
        n = int(blocks_per_stage[stage])
        if stage == 0:
            tokens += ares * n
        else:
            tokens += ares * (n - 1) + ares_down
    tokens += ["max_pool", "relu", "affine", "con"]
    return tokens


def resnet34_imagenet_spec() -> list[str]:
    """Spec of ``resnet34_1000_imagenet_classifier.dnn`` (3, 4, 6, 3 blocks)."""
    return dlib_resnet_spec((3, 4, 6, 3))


# ---------------------------------------------------------------------------------------------
# preprocessing
# ---------------------------------------------------------------------------------------------


def dlib_normalize(rgb: torch.Tensor, mean: Sequence[float] = DLIB_IMAGENET_MEAN) -> torch.Tensor:
    """RGB values on the 0..255 scale, ``(N, 3, H, W)`` → dlib's input tensor
    ``(rgb - mean) / 256``."""
    m = torch.as_tensor(mean, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb - m) * DLIB_INPUT_SCALE


def _as_image_list(images: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            return [images]
        if images.ndim == 4:
            return list(images)
        raise ValueError(f"expected (H, W, 3) or (N, H, W, 3) images, got shape {images.shape}")
    return [np.asarray(im) for im in images]


def preprocess(images_rgb_uint8: np.ndarray | Sequence[np.ndarray], size: int = 227,
               crop_fraction: float | None = 1.0,
               mean: Sequence[float] = DLIB_IMAGENET_MEAN) -> torch.Tensor:
    """RGB uint8 images (one ``(H, W, 3)``, a batch ``(N, H, W, 3)`` or a list of any sizes) →
    the dlib ImageNet net's float32 input ``(N, 3, size, size)``.

    Each image is cropped to its central square of ``crop_fraction`` x the shorter side
    (``None``: no crop, the image is squashed), resized with antialiased bilinear interpolation,
    rounded back to 8-bit pixels (dlib's chips are ``rgb_pixel`` images) and normalised as
    ``(pixel - mean) / 256``.
    """
    out = []
    for im in _as_image_list(images_rgb_uint8):
        if im.ndim != 3 or im.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) RGB image, got shape {im.shape}")
        h, w = im.shape[:2]
        if crop_fraction is not None:
            if not 0.0 < crop_fraction <= 1.0:
                raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction}")
            side = max(1, int(round(min(h, w) * crop_fraction)))
            y0, x0 = (h - side) // 2, (w - side) // 2
            im = im[y0:y0 + side, x0:x0 + side]
        t = torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1)[None].float()
        if t.shape[-2:] != (size, size):
            t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            t = t.round().clamp_(0, 255)
        out.append(t)
    return dlib_normalize(torch.cat(out), mean)


# ---------------------------------------------------------------------------------------------
# layers
# ---------------------------------------------------------------------------------------------


class _Affine(nn.Module):
    def __init__(self, layer: Affine) -> None:
        super().__init__()
        self.mode = layer.mode
        self.gamma = nn.Parameter(torch.from_numpy(layer.gamma.copy()).reshape(layer.gamma_shape))
        self.beta = nn.Parameter(torch.from_numpy(layer.beta.copy()).reshape(layer.beta_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma + self.beta


class _Pool(nn.Module):
    def __init__(self, layer: MaxPool | AvgPool) -> None:
        super().__init__()
        self.is_max = isinstance(layer, MaxPool)
        self.nr, self.nc = layer.nr, layer.nc
        self.stride = (layer.stride_y, layer.stride_x)
        self.padding = (layer.padding_y, layer.padding_x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = (self.nr or x.shape[-2], self.nc or x.shape[-1])
        if self.is_max:
            return F.max_pool2d(x, kernel, self.stride, self.padding)
        if kernel == tuple(x.shape[-2:]) and self.padding == (0, 0):
            return x.mean(dim=(-2, -1), keepdim=True)
        return F.avg_pool2d(x, kernel, self.stride, self.padding, count_include_pad=False)


class _Fc(nn.Module):
    def __init__(self, layer: Fc) -> None:
        super().__init__()
        self.linear = nn.Linear(layer.num_inputs, layer.num_outputs, bias=layer.bias is not None)
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(layer.weight.T.copy()))
            if layer.bias is not None:
                self.linear.bias.copy_(torch.from_numpy(layer.bias.copy()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x.reshape(x.shape[0], -1))
        return y.reshape(*y.shape, 1, 1)


def _conv(layer: Con) -> nn.Conv2d:
    k = layer.filters_shape[1]
    conv = nn.Conv2d(k, layer.num_filters, (layer.nr, layer.nc), (layer.stride_y, layer.stride_x),
                     (layer.padding_y, layer.padding_x), bias=True)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(layer.weight.copy()))
        conv.bias.copy_(torch.from_numpy(layer.bias.copy()))
    return conv


def add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``tt::add(dest, a, b)``: the output takes the larger of each dimension and each
    operand contributes zero where it has no element."""
    if a.shape == b.shape:
        return a + b
    shape = [max(x, y) for x, y in zip(a.shape, b.shape)]

    def pad(t: torch.Tensor) -> torch.Tensor:
        # F.pad lists (last dim before, after, ..., first dim before, after)
        widths: list[int] = []
        for dim in reversed(range(t.dim())):
            widths += [0, shape[dim] - t.shape[dim]]
        return F.pad(t, widths)

    return pad(a) + pad(b)


# ---------------------------------------------------------------------------------------------
# the network
# ---------------------------------------------------------------------------------------------


class DlibNetModule(nn.Module):
    """A parsed dlib network as a PyTorch module (inputs already normalised; see the module
    docstring for the layer semantics). ``ops[i]`` names what step ``i`` does, outputs of
    computational layers come from ``layers[str(i)]``.

    ``fold_affine=True`` folds each ``affine_`` directly after a ``con_`` into the conv
    (``W * gamma``, ``b * gamma + beta``): the same function up to float rounding, and faster.
    """

    def __init__(self, net: DlibNet, fold_affine: bool = False) -> None:
        super().__init__()
        self.input_layer: InputRGBImageSized = net.input
        self.ops: list[tuple[str, int]] = []
        self.layers = nn.ModuleDict()
        raw = list(net.layers)
        i = 0
        while i < len(raw):
            layer = raw[i]
            idx = len(self.ops)
            if isinstance(layer, TagOrSkip):
                raise DlibFormatError("tag/skip layers are unresolved: read the file with a spec")
            if isinstance(layer, Tag):
                self.ops.append(("tag", layer.id))
            elif isinstance(layer, Skip):
                self.ops.append(("skip", layer.id))
            elif isinstance(layer, AddPrev):
                if layer.tag is None:
                    raise DlibFormatError("add_prev layer without a tag id: read the file with a spec")
                self.ops.append(("add_prev", layer.tag))
            elif isinstance(layer, Con):
                conv = _conv(layer)
                nxt = raw[i + 1] if i + 1 < len(raw) else None
                if fold_affine and isinstance(nxt, Affine) and nxt.mode == CONV_MODE \
                        and nxt.gamma.size == layer.num_filters:
                    g = torch.from_numpy(nxt.gamma.reshape(-1).copy())
                    b = torch.from_numpy(nxt.beta.reshape(-1).copy())
                    with torch.no_grad():
                        conv.weight.mul_(g.view(-1, 1, 1, 1))
                        conv.bias.copy_(conv.bias * g + b)
                    i += 1
                self.layers[str(idx)] = conv
                self.ops.append(("module", idx))
            elif isinstance(layer, Affine):
                self.layers[str(idx)] = _Affine(layer)
                self.ops.append(("module", idx))
            elif isinstance(layer, Relu):
                self.layers[str(idx)] = nn.ReLU()
                self.ops.append(("module", idx))
            elif isinstance(layer, (MaxPool, AvgPool)):
                self.layers[str(idx)] = _Pool(layer)
                self.ops.append(("module", idx))
            elif isinstance(layer, Fc):
                self.layers[str(idx)] = _Fc(layer)
                self.ops.append(("module", idx))
            else:  # pragma: no cover - the Layer union is exhaustive
                raise DlibFormatError(f"unsupported layer {type(layer).__name__}")
            i += 1
        self.op_names = [self._op_name(op) for op in self.ops]

    def _op_name(self, op: tuple[str, int]) -> str:
        kind, arg = op
        if kind != "module":
            return f"{kind}{arg}"
        mod = self.layers[str(arg)]
        if isinstance(mod, nn.Conv2d):
            return "con"
        if isinstance(mod, _Affine):
            return "affine"
        if isinstance(mod, nn.ReLU):
            return "relu"
        if isinstance(mod, _Pool):
            return "max_pool" if mod.is_max else "avg_pool"
        return "fc"

    @property
    def mean(self) -> tuple[float, float, float]:
        return self.input_layer.mean

    @property
    def input_size(self) -> tuple[int, int]:
        return (self.input_layer.nr, self.input_layer.nc)

    def forward(self, x: torch.Tensor, stop: int | None = None,
                trace: list[tuple[str, tuple[int, ...]]] | None = None) -> torch.Tensor:
        """Run ops ``[0, stop)`` (all by default) on the normalised input ``x`` ``(N, 3, H, W)``.
        Returns the 4-D dlib tensor; ``trace`` (if given) receives ``(op name, output shape)``."""
        tags: dict[int, torch.Tensor] = {}
        end = len(self.ops) if stop is None else stop
        for i in range(end):
            kind, arg = self.ops[i]
            if kind == "module":
                x = self.layers[str(arg)](x)
            elif kind == "tag":
                tags[arg] = x
            elif kind == "skip":
                x = tags[arg]
            else:  # add_prev
                x = add_zero_padded(x, tags[arg])
            if trace is not None:
                trace.append((self.op_names[i], tuple(x.shape)))
        return x


class DlibResNet(DlibNetModule):
    """dlib's ImageNet ResNet: ``forward`` gives the 1000 logits, :meth:`features` the 512-d
    average-pooled penultimate features; ``labels`` are the class names stored in the file."""

    def __init__(self, net: DlibNet, labels: Sequence[str] | None = None, fold_affine: bool = False) -> None:
        super().__init__(net, fold_affine=fold_affine)
        if self.op_names[-2:] != ["avg_pool", "fc"]:
            raise DlibFormatError(f"a dlib ImageNet ResNet ends in avg_pool, fc; this one in {self.op_names[-2:]}")
        self.labels: list[str] = list(labels) if labels is not None else []

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(N, C)`` (the output of ``avg_pool_everything``)."""
        return super().forward(x, stop=len(self.ops) - 1).flatten(1)

    def forward(self, x: torch.Tensor, stop: int | None = None,
                trace: list[tuple[str, tuple[int, ...]]] | None = None) -> torch.Tensor:
        """Logits ``(N, num_classes)`` (or, with ``stop``, the raw 4-D tensor at that op)."""
        out = super().forward(x, stop=stop, trace=trace)
        return out.flatten(1) if stop is None else out

    def topk(self, x: torch.Tensor, k: int = 5) -> list[list[tuple[int, str, float]]]:
        """Top-``k`` ``(class index, label, softmax probability)`` per image."""
        with torch.no_grad():
            p = torch.softmax(self.forward(x), dim=1)
        vals, idx = p.topk(k, dim=1)
        return [[(int(i), self.labels[int(i)] if self.labels else str(int(i)), float(v))
                 for v, i in zip(vr, ir)] for vr, ir in zip(vals, idx)]


def _check_resnet34(net: DlibNet) -> None:
    """The quirks this module relies on, checked against the parsed file."""
    inp = net.input
    if (inp.nr, inp.nc) != (227, 227):
        raise DlibFormatError(f"expected a 227x227 input layer, found {inp.nr}x{inp.nc}")
    if not np.allclose(inp.mean, DLIB_IMAGENET_MEAN, atol=1e-4):
        raise DlibFormatError(f"unexpected input channel averages {inp.mean}")
    for layer in net.layers:
        if isinstance(layer, Affine) and (layer.mode != CONV_MODE or layer.gamma_shape[2:] != (1, 1)):
            raise DlibFormatError("expected per-channel (conv mode) affine layers")
    pools = [lay for lay in net.layers if isinstance(lay, AvgPool)]
    if [(p.nr, p.nc, p.stride_y, p.stride_x, p.padding_y, p.padding_x) for p in pools[:-1]] != [(2, 2, 2, 2, 0, 0)] * 3 \
            or not pools[-1].everything:
        raise DlibFormatError("expected three 2x2/2 average-pool shortcuts and a final global average pool")
    fc = net.layers[-1]
    if not isinstance(fc, Fc) or (fc.num_inputs, fc.num_outputs) != (512, 1000) or fc.bias is None:
        raise DlibFormatError("expected a final fc 512 -> 1000 with bias")


def load_dlib_resnet34(path: str | Path, fold_affine: bool = False) -> DlibResNet:
    """Load ``resnet34_1000_imagenet_classifier.dnn`` as an eval-mode :class:`DlibResNet`.

    Inputs are made by :func:`preprocess` (227x227, RGB, ``(pixel - avg) / 256``)."""
    dnn = read_dnn_file(path, spec=resnet34_imagenet_spec())
    _check_resnet34(dnn.net)
    labels = dnn.labels
    if labels is not None and len(labels) != 1000:
        raise DlibFormatError(f"expected 1000 labels after the network, found {len(labels)}")
    return DlibResNet(dnn.net, labels, fold_affine=fold_affine).eval()
