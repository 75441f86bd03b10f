"""Feature distillation from the teacher, at training time only (a "hint", Romero et al.,
"FitNets: Hints for Thin Deep Nets", ICLR 2015).

Soft targets carry one number per window from the teacher: how sure it is. Its 128-d embedding
(:meth:`~rtliveness.training.teachers.minifasnet.MiniFasTeacher.embed_crops_batch`) carries what
it *sees* in a crop — the cues of the real printed and replayed faces it was trained on. Here a
linear map from the encoder's 512-d embedding of each crop must predict the teacher's embedding
of the same stored crop (cosine distance, every crop of every window, every class: the
representation is distilled, not the verdict, so a teacher fooled by a sample teaches no wrong
label). The map lives outside the :class:`~rtliveness.model.spoofmodel.SpoofModel`, is attached
by a forward hook on ``encoder`` and is dropped after training: the inference graph and the
checkpoint's parameter names are the origin's.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["FeatureHint"]


class FeatureHint(nn.Module):
    """Hooks ``encoder``; after a training forward pass, :meth:`loss` compares the captured crop
    embeddings with the teacher's. :meth:`remove` takes the hook off."""

    def __init__(self, encoder: nn.Module, window: int, student_dim: int, teacher_dim: int) -> None:
        super().__init__()
        self.window = window
        self.proj = nn.Linear(student_dim, teacher_dim)
        self._emb: torch.Tensor | None = None
        self._handle = encoder.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs, output: torch.Tensor) -> None:
        self._emb = output if module.training else None

    def loss(self, teacher: torch.Tensor) -> torch.Tensor:
        """Mean over crops of ``1 - cos(proj(student crop embedding), teacher crop embedding)``;
        ``teacher``: (B, window, D), or (views * B, window, D) when each window was seen several
        times. Uses the embeddings of the last training forward pass (consumed)."""
        if self._emb is None:
            raise RuntimeError("no training forward pass to distil")
        emb = self._emb.flatten(1).float()  # (B * window, 512)
        self._emb = None
        target = teacher.reshape(-1, teacher.shape[-1]).float()
        if emb.shape[0] != target.shape[0]:
            raise ValueError(f"{emb.shape[0]} crop embeddings for {target.shape[0]} teacher embeddings")
        return (1.0 - F.cosine_similarity(self.proj(emb), target, dim=1)).mean()

    def remove(self) -> None:
        self._handle.remove()
        self._emb = None
