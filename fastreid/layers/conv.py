"""Convolution blocks shared by the omni-scale backbones (OSNet) and MSINet's cells."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["LightConv3x3", "ChannelGate"]


class LightConv3x3(nn.Sequential):
    """Light 3x3 layer: 1x1 conv (no BN), depth-wise 3x3 conv, BN, ReLU; keeps H x W.

    Parameter names: ``pointwise``, ``depthwise``, ``bn`` (what OSNet and MSINet checkpoints hold).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.depthwise = nn.Conv2d(out_channels, out_channels, 3, padding=1, groups=out_channels, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)


class ChannelGate(nn.Module):
    """Channel gate: ``g(x) = sigmoid(fc2(relu(fc1(GAP(x)))))``, fc1: C -> max(1, C / reduction) and
    fc2 back to C as 1x1 convs with bias; ``forward(x) = x * g(x)`` for ``(B, C, H, W)``.

    OSNet's unified aggregation gate (one instance shared by the streams of a block); MSINet's "gate"
    interaction applies it to both branches.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1, bias=True)
        self.fc2 = nn.Conv2d(hidden, channels, kernel_size=1, bias=True)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The gate ``(B, C, 1, 1)`` in (0, 1) for features ``(B, C, H, W)``."""
        return torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)
