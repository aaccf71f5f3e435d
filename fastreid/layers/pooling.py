"""Global pooling layers that turn a feature map ``(B, C, H, W)`` into ``(B, C, 1, 1)``.

Chosen by name through :func:`build_pooling` ("avg", "max", "gem"); an unknown name is an error that
lists the valid ones.
"""

from __future__ import annotations

from typing import Callable, Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

from fastreid.utils.errors import ConfigValueError

__all__ = ["GeneralizedMeanPooling", "build_pooling", "POOLING_LAYERS"]


class GeneralizedMeanPooling(nn.Module):
    """GeM pooling (Radenovic et al. 2018): ``(mean(clamp(x, eps) ** p)) ** (1 / p)`` over H x W.

    ``p`` is learnable (initialised to ``p``); p = 1 is average pooling and p -> inf max pooling.
    Input ``(B, C, H, W)`` non-negative activations; output ``(B, C, 1, 1)``.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learnable: bool = True):
        super().__init__()
        if p <= 0:
            raise ValueError(f"GeM pooling: p={p} is not allowed; expected p > 0")
        self.p = nn.Parameter(torch.tensor(float(p)), requires_grad=learnable)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(x.clamp(min=self.eps).pow(self.p), 1)
        return pooled.pow(1.0 / self.p)

    def extra_repr(self) -> str:
        return f"p={self.p.item():.3f}, eps={self.eps}"


POOLING_LAYERS: Dict[str, Callable[[], nn.Module]] = {
    "avg": lambda: nn.AdaptiveAvgPool2d(1),
    "max": lambda: nn.AdaptiveMaxPool2d(1),
    "gem": GeneralizedMeanPooling,
}


def build_pooling(name: str) -> nn.Module:
    """A fresh global pooling module for ``name`` (case-insensitive): avg, max or gem."""
    key = str(name).lower()
    if key not in POOLING_LAYERS:
        raise ConfigValueError(
            f"MODEL.HEADS.POOL_LAYER: '{name}' is not a pooling layer; expected one of "
            f"{', '.join(POOLING_LAYERS)}"
        )
    return POOLING_LAYERS[key]()
