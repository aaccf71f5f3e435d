"""The BACKBONE registry.

A registered entry is a builder ``fn(cfg) -> nn.Module`` (registered under a short name such as
``resnet50``, ``osnet``, ``msinet``). The module it returns:
- takes normalised images ``(B, 3, H, W)`` (the meta-architecture normalises 0..255 input);
- returns ``Dict[str, Tensor]`` of named feature maps ``(B, C, h, w)``, always with the key ``"final"``
  (the last map) and optionally intermediate maps a head may use (e.g. MSINet's ``"stage2"``);
- exposes ``out_channels: Dict[str, int]`` giving the channels of each of those keys, so heads read
  shapes from the backbone instead of from the config;
- may give its residual blocks a method ``residual_branch_norms()`` returning the norm layers that end
  each residual branch, so MODEL.BACKBONE.ZERO_INIT_RESIDUAL can start every block as its shortcut.
"""

from __future__ import annotations

from typing import List

import torch.nn as nn

from fastreid.config import ConfigError
from fastreid.utils.registry import Registry

__all__ = ["BACKBONE_REGISTRY", "build_backbone", "residual_branch_norms", "zero_init_residual"]

BACKBONE_REGISTRY = Registry("BACKBONE")
BACKBONE_REGISTRY.__doc__ = __doc__


def build_backbone(cfg) -> nn.Module:
    """Build ``cfg.MODEL.BACKBONE.NAME`` and check it honours the backbone contract."""
    if cfg.MODEL.BACKBONE.ZERO_INIT_RESIDUAL and cfg.MODEL.BACKBONE.PRETRAIN:
        raise ConfigError("MODEL.BACKBONE.ZERO_INIT_RESIDUAL: True would overwrite the ImageNet weights of "
                          "MODEL.BACKBONE.PRETRAIN True; expected it with training from scratch only")
    backbone = BACKBONE_REGISTRY.get(cfg.MODEL.BACKBONE.NAME)(cfg)
    channels = getattr(backbone, "out_channels", None)
    if not isinstance(channels, dict) or "final" not in channels:
        raise TypeError(
            f"backbone '{cfg.MODEL.BACKBONE.NAME}' must expose out_channels: Dict[str, int] with a 'final' key"
        )
    if cfg.MODEL.BACKBONE.ZERO_INIT_RESIDUAL:
        if not zero_init_residual(backbone):
            raise ConfigError(f"MODEL.BACKBONE.ZERO_INIT_RESIDUAL: backbone '{cfg.MODEL.BACKBONE.NAME}' has no "
                              "residual branches it can start at zero; expected False for it")
    return backbone


def residual_branch_norms(module: nn.Module) -> List[nn.Module]:
    """The norm layers ending ``module``'s residual branches: its ``residual_branch_norms()``, or the
    last BN of a torchvision ResNet block; [] for anything else."""
    from torchvision.models.resnet import BasicBlock, Bottleneck

    method = getattr(module, "residual_branch_norms", None)
    if callable(method):
        return list(method())
    if isinstance(module, Bottleneck):
        return [module.bn3]
    if isinstance(module, BasicBlock):
        return [module.bn2]
    return []


def zero_init_residual(backbone: nn.Module) -> int:
    """Set the weight of every residual branch's last norm to 0, so each block starts as its shortcut
    (Goyal et al. 2017; torchvision's ``zero_init_residual``). Returns how many norms were set."""
    norms = [n for m in backbone.modules() for n in residual_branch_norms(m)]
    for n in norms:
        nn.init.zeros_(n.weight)
    return len(norms)
