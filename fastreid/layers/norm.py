"""Normalisation helpers used by heads."""

from __future__ import annotations

import torch.nn as nn

__all__ = ["bn_neck"]


def bn_neck(num_features: int) -> nn.BatchNorm1d:
    """BatchNorm1d for a BNNeck (Luo et al. 2019): weight 1, bias 0 and frozen (no shift is learned).

    Takes and returns ``(B, num_features)``.
    """
    bn = nn.BatchNorm1d(num_features)
    nn.init.ones_(bn.weight)
    nn.init.zeros_(bn.bias)
    bn.bias.requires_grad_(False)
    return bn
