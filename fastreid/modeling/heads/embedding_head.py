"""EmbeddingHead: pooling -> optional 1x1 reduction -> BNNeck -> identity classifier.

The BoT head (Luo et al., "Bag of Tricks and a Strong Baseline for Deep Person Re-identification",
2019). Reads the backbone map ``"final"`` ``(B, C, h, w)``:

- ``pooled``: global pooling (avg / max / GeM) and, when ``embedding_dim > 0``, a bias-free 1x1 conv
  ``C -> embedding_dim`` (a linear projection of the pooled vector), giving ``(B, D)``;
- ``neck``: BatchNorm1d with a frozen zero bias (BNNeck) when ``with_bnneck``, else the identity;
- classifier on the neck feature: linear, or cosine-margin (cosface / arcface / circle).

``neck_feat`` selects the feature used by metric losses in training **and** returned in eval mode:
"before" -> ``pooled`` (before the BNNeck), "after" -> the BNNeck output. (fast-reid returns the
post-BN feature at test time whatever NECK_FEAT says; here the two always agree, so the feature the
triplet loss shaped is the one that is evaluated.)

Training output: ``{"logits": {"global": (B, K)} (scale and margin applied), "features": {"global":
(B, D)}, "pred_logits": {"global": (B, K)} (scaled, no margin: for accuracy)}``.
Eval output: ``(B, D)``, not normalised.
"""

from __future__ import annotations

from typing import Dict, Optional, Union

import torch
import torch.nn as nn

from fastreid.layers import bn_neck, build_classifier, build_pooling
from fastreid.utils.errors import ConfigValueError

from .build import HEADS_REGISTRY

__all__ = ["EmbeddingHead", "build_embedding_head"]

_NECK_FEATS = ("before", "after")


class EmbeddingHead(nn.Module):
    """See the module docstring. ``in_channels`` is the channels of the backbone's ``"final"`` map."""

    def __init__(self, in_channels: int, num_classes: int, *, embedding_dim: int = 0, with_bnneck: bool = True,
                 neck_feat: str = "before", pool_type: str = "avg", cls_type: str = "linear",
                 scale: float = 1.0, margin: float = 0.0):
        super().__init__()
        if num_classes <= 0:
            raise ConfigValueError(f"MODEL.HEADS.NUM_CLASSES: {num_classes}; expected > 0 (the trainer sets it from "
                             "the training set)")
        if neck_feat not in _NECK_FEATS:
            raise ConfigValueError(f"MODEL.HEADS.NECK_FEAT: '{neck_feat}' is not allowed; expected one of "
                             f"{', '.join(_NECK_FEATS)}")
        if embedding_dim < 0:
            raise ConfigValueError(f"MODEL.HEADS.EMBEDDING_DIM: {embedding_dim}; expected >= 0 (0 = no reduction)")
        self.pool = build_pooling(pool_type)
        dim = embedding_dim or in_channels
        self.reduction: nn.Module = nn.Identity()
        if embedding_dim > 0:
            self.reduction = nn.Conv2d(in_channels, embedding_dim, 1, bias=False)
            nn.init.kaiming_normal_(self.reduction.weight, mode="fan_out", nonlinearity="relu")
        self.neck: nn.Module = bn_neck(dim) if with_bnneck else nn.Identity()
        self.classifier = build_classifier(cls_type, dim, num_classes, scale=scale, margin=margin)
        self.neck_feat = neck_feat
        self.feat_dim = dim

    def forward(self, features: Dict[str, torch.Tensor],
                targets: Optional[torch.Tensor] = None) -> Union[torch.Tensor, Dict[str, Dict[str, torch.Tensor]]]:
        """``features["final"] (B, C, h, w)`` -> training dict (needs ``targets (B,)``) or eval ``(B, D)``."""
        pooled = self.reduction(self.pool(features["final"])).flatten(1)
        neck = self.neck(pooled)
        feat = pooled if self.neck_feat == "before" else neck
        if not self.training:
            return feat
        if targets is None:
            raise ValueError("EmbeddingHead: training forward needs targets (B,) for the margin classifiers")
        sim = self.classifier.similarity(neck)
        return {
            "logits": {"global": self.classifier.apply_margin(sim, targets)},
            "features": {"global": feat},
            "pred_logits": {"global": self.classifier.apply_margin(sim.detach(), None)},
        }


@HEADS_REGISTRY.register(name="EmbeddingHead")
def build_embedding_head(cfg, in_channels: Dict[str, int]) -> EmbeddingHead:
    """MODEL.HEADS.* and the backbone's ``in_channels["final"]`` -> :class:`EmbeddingHead`."""
    h = cfg.MODEL.HEADS
    return EmbeddingHead(
        in_channels["final"], h.NUM_CLASSES, embedding_dim=h.EMBEDDING_DIM, with_bnneck=h.WITH_BNNECK,
        neck_feat=h.NECK_FEAT, pool_type=h.POOL_LAYER, cls_type=h.CLS_LAYER, scale=h.SCALE, margin=h.MARGIN,
    )
