"""Where a training run starts: torchvision-format ImageNet weights for the encoder, or a whole
SpoofModel checkpoint (ours or the origin's); and the frozen starting model that anchors the live
side (learning without forgetting, training only)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import WeightsError
from ..model.checkpoint import ModelMeta
from ..model.spoofmodel import SpoofModel

__all__ = ["load_pretrained_encoder", "load_init_weights", "frozen_anchor", "anchor_loss"]


def load_pretrained_encoder(model: SpoofModel, path: Path) -> None:
    """Load torchvision-format resnet18 ImageNet weights (``fc.*`` ignored) into the encoder."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise WeightsError(f"pretrained weights not found: {path}") from exc
    except Exception as exc:
        raise WeightsError(f"cannot read pretrained weights {path}: not a PyTorch state dict, or the file is "
                           "truncated") from exc
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise WeightsError(f"{path} is not a torchvision resnet18 state dict (it holds a {type(sd).__name__})")
    if any(isinstance(k, str) and k.startswith("encoder.") for k in sd):  # a SpoofModel's own names
        raise WeightsError(f"{path} is a SpoofModel checkpoint, not torchvision resnet18 weights; to start from "
                           f"it use --init-weights {path} (--pretrained takes encoder weights only)")
    sd = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    try:
        missing, unexpected = model.encoder.load_state_dict(sd, strict=False)
    except RuntimeError as exc:
        raise WeightsError(f"{path} is not a torchvision resnet18 state dict (tensor shapes differ)") from exc
    if missing or unexpected:
        raise WeightsError(f"{path} is not a torchvision resnet18 state dict ({len(missing)} missing, {len(unexpected)} unexpected keys)")


def load_init_weights(model: SpoofModel, path: Path) -> ModelMeta:
    """Start from a SpoofModel checkpoint (ours or an origin one); returns its preprocessing."""
    from ..model.checkpoint import load_checkpoint

    loaded = load_checkpoint(Path(path))
    model.load_state_dict(loaded.model.state_dict())
    return loaded.meta


def frozen_anchor(start: SpoofModel, device: str, frozen_encoder: bool) -> SpoofModel:
    """A frozen copy of the starting model (``--init-weights``, as :func:`load_init_weights` read
    it) as the reference of :func:`anchor_loss`, in the same mode as the model it anchors: batch
    norm on the batch's statistics (as the training model's are), its running statistics left as
    loaded (momentum 0); with ``frozen_encoder`` (an encoder learning rate of 0) the encoder runs
    on its running statistics, as the trained one does."""
    anchor = SpoofModel().to(device)  # a fresh module, as the training model is (the same random draws)
    anchor.load_state_dict(start.state_dict())
    anchor.requires_grad_(False).train()
    for m in anchor.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = 0.0
    if frozen_encoder:
        anchor.encoder.eval()
    return anchor


def anchor_loss(logits: torch.Tensor, anchor: nn.Module, x: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``live * (logit - anchor logit)^2``: the bona fide windows' logits
    held near the frozen ``anchor``'s on the same input; attack windows add nothing."""
    with torch.no_grad():
        ref = anchor(x).float()
    return ((logits.float() - ref).pow(2) * live.float()).mean()
