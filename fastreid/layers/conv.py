"""Convolution blocks shared by the omni-scale backbones (OSNet) and MSINet's cells."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from fastreid.utils.checkpoint import rename_module_keys

__all__ = ["ConvBNReLU", "Transition", "LightConv3x3", "ChannelGate"]


def _upgrade_own_keys(module, state_dict, prefix, *args):
    """load_state_dict pre-hook: rename the module's keys of an older layout (``legacy_key_renames``)."""
    rename_module_keys(state_dict, prefix, module.legacy_key_renames)


class ConvBNReLU(nn.Sequential):
    """Convolution without bias, BatchNorm, then ReLU unless ``relu`` is False; ``padding`` defaults to
    ``kernel_size // 2``. Children ``conv``, ``bn`` (, ``relu``): the names of the authors' MSINet
    checkpoints; OSNet state dicts of the earlier positional layout (``0.``, ``1.``) load too."""

    legacy_key_renames = {"0": "conv", "1": "bn"}  # when it was a plain nn.Sequential (OSNet)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 padding: Optional[int] = None, relu: bool = True) -> None:
        super().__init__()
        padding = kernel_size // 2 if padding is None else padding
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        if relu:
            self.relu = nn.ReLU(inplace=True)
        self.register_load_state_dict_pre_hook(_upgrade_own_keys)


class Transition(nn.Sequential):
    """Between stages: 1x1 ConvBNReLU, then 2x2 average pooling with stride 2 (halves H and W)."""

    legacy_key_renames = {"0": "conv"}

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(channels, channels)
        self.pool = nn.AvgPool2d(2, stride=2)
        self.register_load_state_dict_pre_hook(_upgrade_own_keys)


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
