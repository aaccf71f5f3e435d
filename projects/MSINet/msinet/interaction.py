"""Interaction modules (IM) of the Multi-Scale Interaction search space (MSINet, CVPR 2023, Sec. 3.2).

An interaction module takes the pair of branch features ``(x1, x2)`` of an MSI cell, both
``(B, C, H, W)`` with the same shape, and returns a new pair of the same shapes. The four options of
the search space, by their op names:

- ``"none"`` (:class:`NoInteraction`): returns ``(x1, x2)``;
- ``"exchange"`` (:class:`Exchange`): returns ``(x2, x1)``;
- ``"gate"`` (:class:`ChannelGate`): one channel-gate MLP shared by both branches,
  returns ``(x1 * g(x1), x2 * g(x2))``;
- ``"attention"`` (:class:`CrossAttention`): channel attention whose keys are exchanged between the
  branches, added back with one learnable scale ``gamma`` (initialised to 0).

Every module is built as ``INTERACTION_OPS[name](channels)`` so a cell (or a supernet's mixed op) can
create any option from its name.
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch
import torch.nn as nn

from fastreid import layers
from fastreid.config import ConfigError

__all__ = [
    "GenotypeError",
    "NoInteraction",
    "Exchange",
    "ChannelGate",
    "CrossAttention",
    "INTERACTION_OPS",
    "OP_NAMES",
    "build_interaction",
    "check_op_name",
]

Pair = Tuple[torch.Tensor, torch.Tensor]


class NoInteraction(nn.Module):
    """The "none" option: the branches pass through unchanged (no parameters)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> Pair:
        return x1, x2


class Exchange(nn.Module):
    """The "exchange" option: the two branches swap their features (no parameters)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> Pair:
        return x2, x1


class ChannelGate(layers.ChannelGate):
    """The "gate" option: the toolbox's channel gate (:class:`fastreid.layers.ChannelGate`, one MLP)
    applied to both branches, each gated by its own pooled statistics ``(B, C, 1, 1)``."""

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> Pair:
        # Two calls (rather than one batched call split by x1.shape[0]) keep the batch axis dynamic in ONNX.
        return x1 * self.gate(x1), x2 * self.gate(x2)


class CrossAttention(nn.Module):
    """The "attention" option: channel attention with the keys of the two branches exchanged.

    With X_i the branch features reshaped to ``(B, C, N)``, N = H * W:
    energy_1 = X1 X2^T and energy_2 = X2 X1^T (each ``(B, C, C)``); the attention is
    softmax over the last axis of (row max - energy); out_i = gamma * (attention_i X_i) + x_i with one
    scalar ``gamma`` shared by both outputs and initialised to 0 (so the module starts as "none").
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.gamma = nn.Parameter(torch.zeros(1))

    @staticmethod
    def _attend(energy: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        # Subtracting from the row max turns high correlation into low weight (DANet's channel attention).
        energy = energy.amax(dim=-1, keepdim=True) - energy
        return torch.bmm(torch.softmax(energy, dim=-1), value)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> Pair:
        b, c, h, w = x1.shape
        q1 = x1.reshape(b, c, h * w)
        q2 = x2.reshape(b, c, h * w)
        energy1 = torch.bmm(q1, q2.transpose(1, 2))
        energy2 = energy1.transpose(1, 2)  # X2 X1^T is the transpose of X1 X2^T
        out1 = self._attend(energy1, q1).reshape(b, c, h, w)
        out2 = self._attend(energy2, q2).reshape(b, c, h, w)
        return self.gamma * out1 + x1, self.gamma * out2 + x2


# The one op order of the search space, the authors': alpha's columns, the supernet's mixed ops and
# every listing follow it (index alpha with OP_NAMES.index(name)).
INTERACTION_OPS: Dict[str, Callable[[int], nn.Module]] = {
    "none": NoInteraction,
    "gate": ChannelGate,
    "attention": CrossAttention,
    "exchange": Exchange,
}
OP_NAMES: Tuple[str, ...] = tuple(INTERACTION_OPS)


class GenotypeError(ConfigError, ValueError):
    """A genotype (op name, list, or file) that is not valid; the message lists the valid ops."""


def check_op_name(name: object, what: str = "interaction op") -> str:
    """Return ``name`` if it is a known op name, else raise GenotypeError listing the valid ones."""
    if not isinstance(name, str) or name not in INTERACTION_OPS:
        raise GenotypeError(f"{what}: {name!r} is not an interaction op; expected one of {', '.join(OP_NAMES)}")
    return name


def build_interaction(name: str, channels: int) -> nn.Module:
    """Build the interaction module called ``name`` for branches of ``channels`` channels."""
    return INTERACTION_OPS[check_op_name(name)](channels)
