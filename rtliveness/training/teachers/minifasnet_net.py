"""The MiniFASNet networks (V2 and V1SE, module names matching the Silent-Face checkpoints) and
:func:`load_minifasnet`, which loads a checkpoint into one of them."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from ...errors import WeightsError
from .minifasnet_constants import INPUT_SIZE

__all__ = ["MiniFASNet", "MiniFASNetV2", "MiniFASNetV1SE", "load_minifasnet"]


class _ConvBN(nn.Module):
    """Bias-free convolution, batch norm, and (optionally) a per-channel PReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0,
                 groups: int = 1, prelu: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, groups=groups, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(out_ch)
        self.has_prelu = prelu
        if prelu:
            self.prelu = nn.PReLU(out_ch)

    def fold_bn_(self) -> None:
        """Fold the (eval-mode) batch norm into the convolution, in place."""
        if isinstance(self.bn, nn.BatchNorm2d):
            self.conv = fuse_conv_bn_eval(self.conv, self.bn)
            self.bn = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return self.prelu(x) if self.has_prelu else x


class _SqueezeExcite(nn.Module):
    """Channel gate: global mean -> 1x1 conv + BN + ReLU -> 1x1 conv + BN + sigmoid -> scale."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = channels // reduction
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.bn1: nn.Module = nn.BatchNorm2d(hidden)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)
        self.bn2: nn.Module = nn.BatchNorm2d(channels)

    def fold_bn_(self) -> None:
        """Fold both (eval-mode) batch norms into their 1x1 convolutions, in place."""
        if isinstance(self.bn1, nn.BatchNorm2d):
            self.fc1 = fuse_conv_bn_eval(self.fc1, self.bn1)
            self.bn1 = nn.Identity()
        if isinstance(self.bn2, nn.BatchNorm2d):
            self.fc2 = fuse_conv_bn_eval(self.fc2, self.bn2)
            self.bn2 = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = x.mean(dim=(2, 3), keepdim=True)
        gate = torch.relu(self.bn1(self.fc1(gate)))
        gate = torch.sigmoid(self.bn2(self.fc2(gate)))
        return x * gate


class _Bottleneck(nn.Module):
    """1x1 expansion (PReLU) -> 3x3 depthwise (PReLU) -> 1x1 linear projection.

    Residual blocks (stride 1, same width) add their input back, after the optional
    squeeze-excitation gate on the projected features.
    """

    def __init__(self, in_ch: int, hidden: int, out_ch: int, stride: int, residual: bool,
                 se_reduction: int | None = None) -> None:
        super().__init__()
        if residual and (stride != 1 or in_ch != out_ch):
            raise ValueError("a residual bottleneck needs stride 1 and equal input/output widths")
        self.conv = _ConvBN(in_ch, hidden, 1)
        self.conv_dw = _ConvBN(hidden, hidden, 3, stride=stride, padding=1, groups=hidden)
        self.project = _ConvBN(hidden, out_ch, 1, prelu=False)
        self.residual = residual
        self.se_module = _SqueezeExcite(out_ch, se_reduction) if se_reduction else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.conv_dw(self.conv(x)))
        if self.se_module is not None:
            y = self.se_module(y)
        return x + y if self.residual else y


class _Stage(nn.Module):
    """Residual bottlenecks at constant width; with ``se`` the last one carries an SE gate."""

    def __init__(self, channels: int, hidden: Sequence[int], se: bool, se_reduction: int = 4) -> None:
        super().__init__()
        last = len(hidden) - 1
        self.model = nn.Sequential(*(
            _Bottleneck(channels, h, channels, stride=1, residual=True,
                        se_reduction=se_reduction if se and i == last else None)
            for i, h in enumerate(hidden)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MiniFASNet(nn.Module):
    """The MiniFASNet family: a pruned MobileFaceNet for 3-way anti-spoofing.

    Spatial path for an 80x80 input: stem conv (stride 2) 40 -> depthwise 3x3 -> bottleneck
    (stride 2) 20 -> stage -> bottleneck (stride 2) 10 -> stage -> bottleneck (stride 2) 5 -> stage
    -> 1x1 to 512 -> 5x5 depthwise "global" conv -> 512 -> linear 128 -> BN -> linear 3 logits.
    Widths are 32 -> 64 -> 128 -> 128; the three stages differ only in their expansion widths
    (``stage3``, ``stage4``, ``stage5``) and in whether their last block has an SE gate.
    Training-time dropout is left out: this implementation is for inference.
    """

    def __init__(self, stage3: Sequence[int], stage4: Sequence[int], stage5: Sequence[int],
                 squeeze_excite: bool, input_size: int = INPUT_SIZE, num_classes: int = 3,
                 embedding: int = 128) -> None:
        super().__init__()
        head_kernel = (input_size + 15) // 16
        self.input_size = input_size
        self.conv1 = _ConvBN(3, 32, 3, stride=2, padding=1)
        self.conv2_dw = _ConvBN(32, 32, 3, padding=1, groups=32)
        self.conv_23 = _Bottleneck(32, 103, 64, stride=2, residual=False)
        self.conv_3 = _Stage(64, stage3, squeeze_excite)
        self.conv_34 = _Bottleneck(64, 231, 128, stride=2, residual=False)
        self.conv_4 = _Stage(128, stage4, squeeze_excite)
        self.conv_45 = _Bottleneck(128, 308, 128, stride=2, residual=False)
        self.conv_5 = _Stage(128, stage5, squeeze_excite)
        self.conv_6_sep = _ConvBN(128, 512, 1)
        self.conv_6_dw = _ConvBN(512, 512, head_kernel, groups=512, prelu=False)
        self.linear = nn.Linear(512, embedding, bias=False)
        self.bn: nn.Module = nn.BatchNorm1d(embedding)
        self.prob = nn.Linear(embedding, num_classes, bias=False)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (N, 3, 80, 80) float BGR in 0..255 -> (N, 128) embeddings, the input of the
        final linear classifier (:meth:`forward` is ``prob(embed(x))``)."""
        for stage in (self.conv1, self.conv2_dw, self.conv_23, self.conv_3, self.conv_34,
                      self.conv_4, self.conv_45, self.conv_5, self.conv_6_sep, self.conv_6_dw):
            x = stage(x)
        return self.bn(self.linear(torch.flatten(x, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (N, 3, 80, 80) float BGR in 0..255 -> (N, 3) logits (class 1 = live)."""
        return self.prob(self.embed(x))

    def fused(self) -> "MiniFASNet":
        """An inference copy with every batch norm folded into the layer before it.

        Same outputs up to float rounding (~1e-6 on the logits), 1.3-2x faster on one CPU
        thread. The copy's state dict no longer has the checkpoint's layout: load first, fuse after.
        """
        net = copy.deepcopy(self).eval()
        for module in net.modules():
            if isinstance(module, (_ConvBN, _SqueezeExcite)):
                module.fold_bn_()
        if isinstance(net.bn, nn.BatchNorm1d):
            net.linear = fuse_linear_bn_eval(net.linear, net.bn)
            net.bn = nn.Identity()
        return net.requires_grad_(False)


class MiniFASNetV2(MiniFASNet):
    """MiniFASNetV2 (the 2.7x-crop model): no squeeze-excitation."""

    STAGE3 = (13, 13, 13, 13)
    STAGE4 = (231, 52, 26, 77, 26, 26)
    STAGE5 = (26, 26)

    def __init__(self, input_size: int = INPUT_SIZE) -> None:
        super().__init__(self.STAGE3, self.STAGE4, self.STAGE5, squeeze_excite=False, input_size=input_size)


class MiniFASNetV1SE(MiniFASNet):
    """MiniFASNetV1SE (the 4.0x-crop model): SE gate (reduction 4) on each stage's last block."""

    STAGE3 = (13, 26, 13, 52)
    STAGE4 = (154, 52, 26, 52, 26, 26)
    STAGE5 = (26, 26)

    def __init__(self, input_size: int = INPUT_SIZE) -> None:
        super().__init__(self.STAGE3, self.STAGE4, self.STAGE5, squeeze_excite=True, input_size=input_size)


def load_minifasnet(path: str | Path, arch: type[MiniFASNet]) -> MiniFASNet:
    """Build ``arch`` and load the Silent-Face state dict at ``path`` (strict) on the CPU.

    The file is read with ``weights_only=True``; a ``module.`` prefix (DataParallel) is stripped.
    Returns the network in eval mode with gradients off; raises :class:`WeightsError` when the
    file is missing, unreadable or does not fit ``arch``.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"MiniFASNet weights not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise WeightsError(f"cannot read MiniFASNet weights {path}: {str(exc).splitlines()[0][:200]}") from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} is not a MiniFASNet state dict (expected a mapping of tensors)")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    net = arch()
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path} does not fit {arch.__name__}: {str(exc).splitlines()[0][:200]}") from exc
    net.eval()
    net.requires_grad_(False)
    return net
