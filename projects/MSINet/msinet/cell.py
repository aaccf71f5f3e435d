"""The Multi-Scale Interaction (MSI) cell of MSINet (CVPR 2023, Sec. 3.2, Fig. 2) and its layers.

An MSI cell maps ``(B, C_in, H, W)`` to ``(B, C_out, H, W)`` through two branches of different
receptive fields:

    x -> reduce_a (1x1 conv+BN+ReLU to mid) -> round1_a (depth_a LightConv3x3) -\\
                                                                                  interact1 -> round2 ...
    x -> reduce_b (1x1 conv+BN+ReLU to mid) -> round1_b (depth_b LightConv3x3) -/

After the second interaction each branch is projected back to C_out by its own 1x1 conv + BN (no
ReLU), the two are fused (sum, minus or mul), the identity (projected when C_in != C_out) is added and
a ReLU applied. ``scale_ratio = (depth_a, depth_b)`` is (1, 3) in the paper ("3:1").
"""

from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn

from fastreid.layers import ConvBNReLU, LightConv3x3

from .interaction import build_interaction

__all__ = ["MSICell", "FUSIONS"]

FUSIONS = ("sum", "minus", "mul")


def _light_stack(channels: int, depth: int) -> nn.Sequential:
    return nn.Sequential(*[LightConv3x3(channels, channels) for _ in range(depth)])


OpSpec = Union[str, nn.Module]


class MSICell(nn.Module):
    """One MSI cell with two interaction modules.

    Args:
        in_channels, out_channels: channels of the input and output maps.
        ops: the two interaction modules, each an op name (``"none"``, ``"exchange"``, ``"gate"``,
            ``"attention"``) or an already-built module taking ``(x1, x2) -> (y1, y2)`` (a supernet's
            mixed op). Subclasses may instead override :meth:`make_interaction`.
        fusion: how the branches are merged: ``"sum"`` (a + b), ``"minus"`` (a - b) or ``"mul"`` (a * b).
        scale_ratio: LightConv3x3 depth of branch A and branch B in each of the two rounds.
        mid_channels: width of the branches; default ``out_channels // 4`` (the searched MSINet).
    """

    def __init__(self, in_channels: int, out_channels: int, ops: Sequence[OpSpec] = ("none", "none"),
                 fusion: str = "sum", scale_ratio: Sequence[int] = (1, 3),
                 mid_channels: Union[int, None] = None) -> None:
        super().__init__()
        if len(ops) != 2:
            raise ValueError(f"MSICell ops: expected 2 interaction ops, got {len(ops)} ({list(ops)!r})")
        if fusion not in FUSIONS:
            raise ValueError(f"MSICell fusion: {fusion!r} is not a fusion; expected one of {', '.join(FUSIONS)}")
        depth_a, depth_b = (int(d) for d in scale_ratio)
        if depth_a < 1 or depth_b < 1:
            raise ValueError(f"MSICell scale_ratio: {tuple(scale_ratio)!r}; expected two depths >= 1")
        mid = int(mid_channels) if mid_channels else out_channels // 4
        self.in_channels, self.out_channels, self.mid_channels = in_channels, out_channels, mid
        self.fusion = fusion

        self.reduce_a = ConvBNReLU(in_channels, mid)
        self.reduce_b = ConvBNReLU(in_channels, mid)
        self.round1_a = _light_stack(mid, depth_a)
        self.round1_b = _light_stack(mid, depth_b)
        self.interact1 = self.make_interaction(ops[0], mid)
        self.round2_a = _light_stack(mid, depth_a)
        self.round2_b = _light_stack(mid, depth_b)
        self.interact2 = self.make_interaction(ops[1], mid)
        self.expand_a = ConvBNReLU(mid, out_channels, relu=False)
        self.expand_b = ConvBNReLU(mid, out_channels, relu=False)
        self.shortcut = ConvBNReLU(in_channels, out_channels, relu=False) if in_channels != out_channels else None
        self.fused = False  # set by fuse_for_inference

    def make_interaction(self, op: OpSpec, channels: int) -> nn.Module:
        """Build one interaction module for branches of ``channels`` channels (override in a supernet)."""
        if isinstance(op, nn.Module):
            return op
        return build_interaction(op, channels)

    def _fuse(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.fusion == "sum":
            return a + b
        if self.fusion == "minus":
            return a - b
        return a * b

    def residual_branch_norms(self):
        """The BNs ending the two branches (their expand convs'), for MODEL.BACKBONE.ZERO_INIT_RESIDUAL."""
        return [self.expand_a.bn, self.expand_b.bn]

    def fuse_for_inference(self) -> bool:
        """After BN folding (:func:`fastreid.modeling.inference.inference_model`): one 1x1 conv computes
        both reduce convs (their outputs side by side), and for the linear fusions (sum, minus) one 1x1
        conv over ``cat(a, b[, x])`` computes both expand convs, the fusion and the projected shortcut.
        Same output within float rounding; fewer, larger matrix products and no full-size add.
        Returns False (nothing changed) when the BNs are not folded."""
        from fastreid.modeling.inference import merge_1x1_convs

        norms = [self.reduce_a.bn, self.reduce_b.bn, self.expand_a.bn, self.expand_b.bn]
        if self.shortcut is not None:
            norms.append(self.shortcut.bn)
        if self.training or not all(isinstance(n, nn.Identity) for n in norms):
            return False
        self.reduce_ab = merge_1x1_convs([self.reduce_a.conv, self.reduce_b.conv], along="out")
        del self.reduce_a, self.reduce_b
        self.expand_ab, self.shortcut_in_expand = None, False
        if self.fusion in ("sum", "minus"):
            convs = [self.expand_a.conv, self.expand_b.conv] + ([self.shortcut.conv] if self.shortcut else [])
            signs = [1.0, 1.0 if self.fusion == "sum" else -1.0, 1.0][:len(convs)]
            self.expand_ab = merge_1x1_convs(convs, along="in", signs=signs)
            self.shortcut_in_expand = self.shortcut is not None
            del self.expand_a, self.expand_b
            self.shortcut = None
        self.fused = True
        return True

    def _fused_forward(self, x: torch.Tensor) -> torch.Tensor:
        ab = torch.relu_(self.reduce_ab(x))
        a, b = self.round1_a(ab[:, :self.mid_channels]), self.round1_b(ab[:, self.mid_channels:])
        a, b = self.interact1(a, b)
        a, b = self.round2_a(a), self.round2_b(b)
        a, b = self.interact2(a, b)
        if self.expand_ab is None:  # mul fusion: the expand convs stay separate
            out = self._fuse(self.expand_a(a), self.expand_b(b))
            return out.add_(x if self.shortcut is None else self.shortcut(x)).relu_()
        if self.shortcut_in_expand:
            return self.expand_ab(torch.cat([a, b, x], 1)).relu_()
        return self.expand_ab(torch.cat([a, b], 1)).add_(x).relu_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, H, W) -> (B, C_out, H, W)``."""
        if self.fused:
            return self._fused_forward(x)
        a, b = self.round1_a(self.reduce_a(x)), self.round1_b(self.reduce_b(x))
        a, b = self.interact1(a, b)
        a, b = self.round2_a(a), self.round2_b(b)
        a, b = self.interact2(a, b)
        out = self._fuse(self.expand_a(a), self.expand_b(b))  # a new tensor, saved by no backward
        # in place: the same arithmetic without two more full-size maps per cell (faster on the CPU)
        return out.add_(x if self.shortcut is None else self.shortcut(x)).relu_()

    @property
    def interactions(self) -> Tuple[nn.Module, nn.Module]:
        """The two interaction modules, in order."""
        return self.interact1, self.interact2
