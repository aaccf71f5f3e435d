"""The BACKBONE registry.

A registered entry is a builder ``fn(cfg) -> nn.Module`` (registered under a short name such as
``resnet50``, ``osnet``, ``msinet``). The module it returns:
- takes normalised images ``(B, 3, H, W)`` (the meta-architecture normalises 0..255 input);
- returns ``Dict[str, Tensor]`` of named feature maps ``(B, C, h, w)``, always with the key ``"final"``
  (the last map) and optionally intermediate maps a head may use (e.g. MSINet's ``"stage2"``);
- exposes ``out_channels: Dict[str, int]`` giving the channels of each of those keys, so heads read
  shapes from the backbone instead of from the config.
"""

from __future__ import annotations

import torch.nn as nn

from fastreid.utils.registry import Registry

__all__ = ["BACKBONE_REGISTRY", "build_backbone"]

BACKBONE_REGISTRY = Registry("BACKBONE")
BACKBONE_REGISTRY.__doc__ = __doc__


def build_backbone(cfg) -> nn.Module:
    """Build ``cfg.MODEL.BACKBONE.NAME`` and check it honours the backbone contract."""
    backbone = BACKBONE_REGISTRY.get(cfg.MODEL.BACKBONE.NAME)(cfg)
    channels = getattr(backbone, "out_channels", None)
    if not isinstance(channels, dict) or "final" not in channels:
        raise TypeError(
            f"backbone '{cfg.MODEL.BACKBONE.NAME}' must expose out_channels: Dict[str, int] with a 'final' key"
        )
    return backbone
