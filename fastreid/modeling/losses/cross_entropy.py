"""Registered "CrossEntropyLoss": label-smoothed cross entropy summed over every head branch."""

from __future__ import annotations

from typing import Any, Dict

import torch
import torch.nn as nn

from .build import LOSS_REGISTRY
from .functional import cross_entropy_loss

__all__ = ["CrossEntropyLoss", "build_cross_entropy_loss"]


class CrossEntropyLoss(nn.Module):
    """Cross entropy on each ``outputs["logits"][branch] (B, K)``, summed over branches, times ``scale``.

    Returns ``{"loss_cls": scalar}``.
    """

    def __init__(self, epsilon: float = 0.0, scale: float = 1.0):
        super().__init__()
        self.epsilon = float(epsilon)
        self.scale = float(scale)

    def forward(self, outputs: Dict[str, Any], targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        logits = outputs.get("logits")
        if not isinstance(logits, dict) or not logits:
            raise KeyError("CrossEntropyLoss: head outputs have no 'logits' dict of branches")
        total = sum(cross_entropy_loss(v, targets, self.epsilon) for v in logits.values())
        return {"loss_cls": total * self.scale}

    def extra_repr(self) -> str:
        return f"epsilon={self.epsilon}, scale={self.scale}"


@LOSS_REGISTRY.register(name="CrossEntropyLoss")
def build_cross_entropy_loss(cfg) -> CrossEntropyLoss:
    """MODEL.LOSSES.CE.{EPSILON, SCALE} -> :class:`CrossEntropyLoss`."""
    return CrossEntropyLoss(epsilon=cfg.MODEL.LOSSES.CE.EPSILON, scale=cfg.MODEL.LOSSES.CE.SCALE)
