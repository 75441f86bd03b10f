"""Synthetic presentation-attack data rendered from real live faces (``rtliveness synth``).

Modules: ``config`` (settings), ``assets`` (the real faces), ``scene`` (geometry, light, hands),
``camera`` (the one camera chain for every sample), one renderer per class (``real``,
``printed``, ``replay``, ``mask2d``) and ``render`` (the renderer registry, detection with the
serving tracker and crop, workers, ``synthesize`` and ``render_clip``). A new attack type is one
renderer module here, one entry in ``render.RENDERERS`` and one in
:data:`rtliveness.training.attacks.CLASSES`.
"""

from .assets import default_assets_dir, load_sources
from .config import SynthConfig
from .render import RENDERERS, render_clip, synthesize

__all__ = ["SynthConfig", "synthesize", "render_clip", "load_sources", "default_assets_dir", "RENDERERS"]
