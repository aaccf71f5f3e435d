"""Modeling: backbones, heads, losses and meta-architectures, each chosen through its registry.

Importing this package imports every built-in module so their registrations run.
"""

from . import backbones, heads, losses, meta_arch  # noqa: F401
from .backbones import BACKBONE_REGISTRY, build_backbone
from .heads import HEADS_REGISTRY, build_heads
from .losses import LOSS_REGISTRY, build_losses
from .meta_arch import META_ARCH_REGISTRY, Baseline, build_model

__all__ = [
    "BACKBONE_REGISTRY",
    "build_backbone",
    "HEADS_REGISTRY",
    "build_heads",
    "LOSS_REGISTRY",
    "build_losses",
    "META_ARCH_REGISTRY",
    "Baseline",
    "build_model",
]
