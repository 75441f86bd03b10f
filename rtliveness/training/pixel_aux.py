"""Pixel-wise binary supervision (George & Marcel, "Deep Pixel-wise Binary Supervision for Face
Presentation Attack Detection", ICB 2019), at training time only.

The origin model sees one number per window, so the encoder may get by on a few small cues of
the training attacks. A 1×1 convolution on the encoder's ``layer3`` feature map (7 × 7 cells at
112 px) predicts the window's target at *every* cell of every crop: each region of the face
must carry evidence on its own, which is the point of pixel-wise supervision. The target map is
the window's target everywhere — the attack medium covers the crop in NUAA and in the rendered
samples, and the origin layout stores no medium mask to do better. The head lives outside the
:class:`~rtliveness.model.spoofmodel.SpoofModel`, is attached by a forward hook, and is dropped
after training: the inference graph and the checkpoint's parameter names are the origin's.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["PixelSupervision", "STAGE"]

#: the encoder stage whose output map is supervised
STAGE = "layer3"


class PixelSupervision(nn.Module):
    """Hooks ``encoder.layer3``; after a training forward pass, :meth:`loss` scores the captured
    map against the windows' targets. :meth:`remove` takes the hook off."""

    def __init__(self, encoder: nn.Module, window: int) -> None:
        super().__init__()
        stage = getattr(encoder, STAGE)
        channels = stage[-1].conv2.out_channels  # a torchvision BasicBlock stage
        self.window = window
        self.conv = nn.Conv2d(channels, 1, kernel_size=1)
        self._map: torch.Tensor | None = None
        self._handle = stage.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs, output: torch.Tensor) -> None:
        self._map = output if module.training else None

    def loss(self, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Mean over cells and crops of the binary cross-entropy between each cell's logit and
        its window's ``target`` (B,), then weighted like the main loss by ``weight`` (B,) and
        averaged over windows. Uses the map of the last training forward pass (consumed)."""
        if self._map is None:
            raise RuntimeError("no training forward pass to supervise")
        logits = self.conv(self._map).float()  # (B * window, 1, h, w)
        self._map = None
        b = target.shape[0]
        if logits.shape[0] != b * self.window:
            raise ValueError(f"{logits.shape[0]} crop maps for {b} windows of {self.window}")
        t = target.float().repeat_interleave(self.window).view(-1, 1, 1, 1).expand_as(logits)
        per_crop = F.binary_cross_entropy_with_logits(logits, t, reduction="none").mean(dim=(1, 2, 3))
        return (per_crop.view(b, self.window).mean(dim=1) * weight).mean()

    def remove(self) -> None:
        self._handle.remove()
        self._map = None
