"""MixStyle (Zhou et al., "Domain Generalization with MixStyle", ICLR 2021), at training time only.

Early CNN feature statistics (per-channel mean and standard deviation of one image) carry the
"style" of a capture: camera, light, scene, print or screen colour. MixStyle replaces them, for a
random share of batches, by a random convex mix of two windows' statistics, so the classifier
cannot lean on the style of the few scenes it trains on. Here the mix is per *window*: the five
crops of a window get the same partner window and the same mixing weight (crop ``j`` mixes with
crop ``j`` of the partner), so the temporal head never sees a style that changes within a window.

It is applied by forward hooks on the encoder's first stages while the model is in training
mode; it has no parameters, so the inference graph and the checkpoint's parameter names are the
origin's. :func:`mix_styles` is the pure operation; :class:`MixStyle` holds the hooks and the
per-step random draw (seeded, so a resumed run repeats it exactly).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["mix_styles", "MixStyle", "ALPHA", "STAGES"]

#: Beta(ALPHA, ALPHA) mixing weights, the paper's value
ALPHA = 0.1
#: encoder stages whose outputs are mixed (the paper's res1 and res2)
STAGES = ("layer1", "layer2")


def mix_styles(x: torch.Tensor, window: int, lam: torch.Tensor, perm: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``x``: (B * window, C, H, W) features of B windows. Each crop is re-normalised to
    ``lam * own + (1 - lam) * partner`` channel mean and standard deviation, the partner being the
    same crop of window ``perm[i]``. ``lam``: (B,) weights; ``perm``: (B,) window indices. The
    statistics are detached (as in the paper): gradients flow through the normalised content."""
    n, c, h, w = x.shape
    b = n // window
    mu = x.mean(dim=(2, 3), keepdim=True)
    sig = (x.var(dim=(2, 3), keepdim=True) + eps).sqrt()
    mu, sig = mu.detach(), sig.detach()
    normed = (x - mu) / sig
    idx = (perm.view(b, 1) * window + torch.arange(window, device=x.device).view(1, window)).reshape(-1)
    lam_c = lam.to(x.dtype).repeat_interleave(window).view(n, 1, 1, 1)
    mu_mix = lam_c * mu + (1 - lam_c) * mu[idx]
    sig_mix = lam_c * sig + (1 - lam_c) * sig[idx]
    return normed * sig_mix + mu_mix


class MixStyle:
    """Hooks MixStyle onto ``encoder``'s :data:`STAGES`. Call :meth:`draw` before each training
    forward pass (it decides, with probability ``p``, whether this batch is mixed, and draws the
    partners and weights from ``rng``); :meth:`remove` takes the hooks off."""

    def __init__(self, encoder: nn.Module, p: float, window: int) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"MixStyle probability must be in [0, 1], got {p}")
        self.p, self.window = p, window
        self._draw: tuple[torch.Tensor, torch.Tensor] | None = None
        self.mixed_batches = 0
        self._handles = [getattr(encoder, name).register_forward_hook(self._hook) for name in STAGES]

    def draw(self, rng: np.random.Generator, windows: int, views: int = 1) -> bool:
        """Decide for the next forward pass of ``windows`` windows; True when it will be mixed.

        ``views`` > 1: the batch holds that many views of the same ``windows`` windows one after
        the other (view ``v`` of window ``i`` at ``v * windows + i``); every view of a window gets
        the same weight and the same view of the same partner, so views differ only as made."""
        if windows < 2 or rng.random() >= self.p:
            self._draw = None
            return False
        lam = torch.from_numpy(rng.beta(ALPHA, ALPHA, size=windows).astype(np.float32))
        perm = torch.from_numpy(rng.permutation(windows))
        self._draw = (lam.repeat(views), torch.cat([perm + v * windows for v in range(views)]))
        self.mixed_batches += 1
        return True

    def _hook(self, module: nn.Module, inputs, output: torch.Tensor) -> torch.Tensor | None:
        if not module.training or self._draw is None:
            return None
        lam, perm = self._draw
        return mix_styles(output, self.window, lam.to(output.device), perm.to(output.device))

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self._draw = None
