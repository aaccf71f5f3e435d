"""FBLNeck: the two-branch neck MSINet is trained with (taken by the authors from CDNet).

- Global branch: GAP of the final map -> v ``(B, C_final)``; fc (no bias) -> BatchNorm1d with frozen
  bias -> linear classifier.
- Part branch: the stage-2 map ``(B, C_stage2, h, w)`` -> 1x1 conv (with bias) to ``part_channels`` ->
  ``num_parts`` horizontal stripes average-pooled and concatenated -> f_v ``(B, part_channels *
  num_parts)``; fc (no bias) -> BatchNorm1d with frozen bias -> linear classifier.

Training returns ``{"logits": {"global", "part"}, "features": {"global": v, "part": f_v}}`` (metric
losses use the pre-neck features, as the authors do); eval returns ``cat(v, f_v)`` (768-d for MSINet),
not normalised. Registered as head ``FBLNeck``; any backbone works whose ``out_channels`` name a
``"final"`` map and the part map MODEL.MSINET.PART_FEATURE (``"stage2"`` for MSINet and OSNet,
``"layer3"`` for ResNet: the stride-16 map in each).
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from fastreid.modeling.heads.build import HEADS_REGISTRY
from fastreid.utils.errors import ConfigValueError

from .msinet import init_msinet_weights

__all__ = ["FBLNeck", "build_fbl_neck"]


def _bn_frozen_bias(dim: int) -> nn.BatchNorm1d:
    bn = nn.BatchNorm1d(dim)
    bn.bias.requires_grad_(False)
    return bn


class FBLNeck(nn.Module):
    """Global + part neck.

    Args:
        final_channels: channels of the backbone's ``"final"`` map.
        stage2_channels: channels of the backbone's ``"stage2"`` map.
        num_classes: training identities (classifier outputs).
        part_channels: output channels of the part branch's 1x1 conv.
        num_parts: horizontal stripes pooled from the part map.
        part_key: the backbone output the part branch reads.
    """

    def __init__(self, final_channels: int, stage2_channels: int, num_classes: int,
                 part_channels: int = 128, num_parts: int = 2, part_key: str = "stage2") -> None:
        super().__init__()
        self.part_key = part_key
        if num_classes <= 0:
            raise ValueError(f"FBLNeck num_classes: {num_classes}; expected a positive number of identities")
        self.num_parts = num_parts
        part_dim = part_channels * num_parts
        self.global_fc = nn.Linear(final_channels, final_channels, bias=False)
        self.global_bn = _bn_frozen_bias(final_channels)
        self.global_classifier = nn.Linear(final_channels, num_classes)
        self.part_conv = nn.Conv2d(stage2_channels, part_channels, 1)
        self.part_fc = nn.Linear(part_dim, part_dim, bias=False)
        self.part_bn = _bn_frozen_bias(part_dim)
        self.part_classifier = nn.Linear(part_dim, num_classes)
        self.feat_dim = final_channels + part_dim
        init_msinet_weights(self)

    def part_feature(self, stage2: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w) -> (B, part_channels * num_parts)``: stripes top to bottom, concatenated."""
        x = self.part_conv(stage2)
        h = x.shape[2]
        if h < self.num_parts:
            raise ValueError(f"FBLNeck: stage-2 map height {h} is smaller than num_parts {self.num_parts}")
        # Stripe bounds as in the authors' two halves: [0, h//2) and [h//2, h) for two parts.
        bounds = [i * h // self.num_parts for i in range(self.num_parts + 1)]
        return torch.cat([x[:, :, a:b].mean(dim=(2, 3)) for a, b in zip(bounds[:-1], bounds[1:])], dim=1)

    def forward(self, features: Dict[str, torch.Tensor], targets: Optional[torch.Tensor] = None):
        v = F.adaptive_avg_pool2d(features["final"], 1).flatten(1)
        f_v = self.part_feature(features[self.part_key])
        if not self.training:
            return torch.cat([v, f_v], dim=1)
        logits = {
            "global": self.global_classifier(self.global_bn(self.global_fc(v))),
            "part": self.part_classifier(self.part_bn(self.part_fc(f_v))),
        }
        return {"logits": logits, "features": {"global": v, "part": f_v}}


@HEADS_REGISTRY.register(name="FBLNeck")
def build_fbl_neck(cfg, in_channels: Dict[str, int]) -> FBLNeck:
    """Build FBLNeck for a backbone whose ``out_channels`` include MODEL.MSINET.PART_FEATURE and ``"final"``."""
    key = cfg.MODEL.MSINET.PART_FEATURE
    if key not in in_channels:
        raise ConfigValueError(
            f"MODEL.MSINET.PART_FEATURE: FBLNeck reads the backbone map {key!r}, which "
            f"'{cfg.MODEL.BACKBONE.NAME}' does not expose; expected one of {', '.join(sorted(in_channels))}"
        )
    return FBLNeck(
        final_channels=in_channels["final"],
        stage2_channels=in_channels[key],
        num_classes=int(cfg.MODEL.HEADS.NUM_CLASSES),
        part_channels=int(cfg.MODEL.MSINET.PART_CHANNELS),
        num_parts=int(cfg.MODEL.MSINET.NUM_PARTS),
        part_key=key,
    )
