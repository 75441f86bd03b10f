"""The origin architecture's fixed sizes and input normalisation, importable without torch:
the one place of each (the model, the checkpoint record, the ring buffer, the data readers and
the synthesiser take them from here)."""

from __future__ import annotations

__all__ = ["WINDOW", "EMBED_DIM", "IMAGENET_MEAN", "IMAGENET_STD"]

#: crops per window: the SpoofModel head (``Conv1d(5, 1, …)``) takes exactly this many
WINDOW = 5
#: numbers per crop: resnet18's pooled features with ``fc`` removed
EMBED_DIM = 512
#: the ImageNet normalisation torchvision's resnet18 (and every checkpoint of the origin) expects
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
