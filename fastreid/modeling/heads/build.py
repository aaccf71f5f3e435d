"""The HEADS registry.

A registered entry is a builder ``fn(cfg, in_channels: Dict[str, int]) -> nn.Module`` where
``in_channels`` is the backbone's ``out_channels``. The head's ``forward(features, targets=None)``
takes the backbone's ``Dict[str, Tensor]`` and returns:
- in training: a dict with at least ``"logits": Dict[str, Tensor (B, num_classes)]`` and
  ``"features": Dict[str, Tensor (B, D)]`` keyed by branch name (``"global"`` for a single branch);
  metric losses use ``features``, classification losses use ``logits``;
- in eval mode: the test feature ``Tensor (B, D)`` (not normalised).
"""

from __future__ import annotations

from typing import Dict

import torch.nn as nn

from fastreid.utils.registry import Registry

__all__ = ["HEADS_REGISTRY", "build_heads"]

HEADS_REGISTRY = Registry("HEADS")
HEADS_REGISTRY.__doc__ = __doc__


def build_heads(cfg, in_channels: Dict[str, int]) -> nn.Module:
    """Build ``cfg.MODEL.HEADS.NAME`` for a backbone with the given output channels."""
    return HEADS_REGISTRY.get(cfg.MODEL.HEADS.NAME)(cfg, in_channels)
