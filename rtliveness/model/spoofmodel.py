"""The SpoofModel: the origin architecture, with an embed/head split.

Architecture, unchanged from the origin so its checkpoints load: torchvision ``resnet18`` with
``fc`` replaced by identity encodes each of the 5 crops to 512 numbers; the vectors are stacked
as channels ``(B, 5, 512)``; ``Conv1d(5, 1, kernel_size=3, stride=2, padding=1)`` gives
``(B, 1, 256)``; ``Linear(256, 1)`` gives one spoof logit. Parameter names: ``encoder.*``,
``conv1d.*``, ``fc.*``.

``embed`` / ``head`` split the forward pass so a stream encodes each crop once and keeps the
512-vector in its ring buffer.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet18

from .dims import EMBED_DIM, WINDOW

__all__ = ["SpoofModel", "EMBED_DIM", "WINDOW", "make_encoder"]


def make_encoder() -> nn.Module:
    """torchvision ``resnet18(weights=None)`` with ``fc`` replaced by identity: a crop → 512 numbers
    (the SpoofModel's ``encoder``; ``rtliveness pretrain`` trains one alone)."""
    net = resnet18(weights=None)
    net.fc = nn.Identity()
    return net


class SpoofModel(nn.Module):
    """resnet18 trunk per crop → Conv1d over the 5 crop vectors → Linear → spoof logit."""

    def __init__(self, window: int = WINDOW) -> None:
        super().__init__()
        if window != WINDOW:
            raise ValueError("the origin SpoofModel head is built for windows of 5 crops")
        self.window = window
        self.encoder = make_encoder()
        self.conv1d = nn.Conv1d(window, 1, kernel_size=3, stride=2, padding=1)
        self.fc = nn.Linear(EMBED_DIM // 2, 1)

    def embed(self, crops: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` normalised crops → ``(N, 512)`` embeddings."""
        return self.encoder(crops)

    def head(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``(B, 5, 512)`` embeddings → ``(B,)`` spoof logits."""
        if embeddings.ndim != 3 or embeddings.shape[1] != self.window or embeddings.shape[2] != EMBED_DIM:
            raise ValueError(f"head expects (B, {self.window}, {EMBED_DIM}), got {tuple(embeddings.shape)}")
        x = self.conv1d(embeddings)  # (B, 1, 256)
        return self.fc(x.flatten(1)).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 5, 3, H, W)`` → ``(B,)`` spoof logits."""
        if x.ndim != 5 or x.shape[1] != self.window:
            raise ValueError(f"forward expects (B, {self.window}, 3, H, W), got {tuple(x.shape)}")
        b, t = x.shape[:2]
        emb = self.embed(x.flatten(0, 1)).view(b, t, -1)
        return self.head(emb)
