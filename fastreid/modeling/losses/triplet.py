"""Registered "TripletLoss": batch triplet loss summed over every head branch."""

from __future__ import annotations

from typing import Any, Dict

import torch
import torch.nn as nn

from fastreid.utils.errors import ConfigValueError

from .build import LOSS_REGISTRY
from .functional import triplet_loss

__all__ = ["TripletLoss", "build_triplet_loss"]

_METRICS = ("euclidean", "cosine")


class TripletLoss(nn.Module):
    """Triplet loss on each ``outputs["features"][branch] (B, D)``, summed over branches, times ``scale``.

    ``margin`` 0 selects the soft margin; see :func:`~fastreid.modeling.losses.functional.triplet_loss`.
    Returns ``{"loss_triplet": scalar}``.
    """

    def __init__(self, margin: float = 0.3, norm_feat: bool = False, hard_mining: bool = True,
                 metric: str = "euclidean", scale: float = 1.0):
        super().__init__()
        if metric not in _METRICS:
            raise ConfigValueError(f"MODEL.LOSSES.TRI.METRIC: '{metric}' is not supported; expected one of "
                             f"{', '.join(_METRICS)}")
        if margin < 0:
            raise ConfigValueError(f"MODEL.LOSSES.TRI.MARGIN: {margin} is negative; expected >= 0 (0 = soft margin)")
        self.margin = float(margin)
        self.norm_feat = bool(norm_feat)
        self.hard_mining = bool(hard_mining)
        self.metric = metric
        self.scale = float(scale)

    def forward(self, outputs: Dict[str, Any], targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        features = outputs.get("features")
        if not isinstance(features, dict) or not features:
            raise KeyError("TripletLoss: head outputs have no 'features' dict of branches")
        total = sum(
            triplet_loss(f, targets, self.margin, self.norm_feat, self.hard_mining, self.metric)
            for f in features.values()
        )
        return {"loss_triplet": total * self.scale}

    def extra_repr(self) -> str:
        return (f"margin={self.margin}, norm_feat={self.norm_feat}, hard_mining={self.hard_mining}, "
                f"metric={self.metric}, scale={self.scale}")


@LOSS_REGISTRY.register(name="TripletLoss")
def build_triplet_loss(cfg) -> TripletLoss:
    """MODEL.LOSSES.TRI.{MARGIN, NORM_FEAT, HARD_MINING, METRIC, SCALE} -> :class:`TripletLoss`."""
    tri = cfg.MODEL.LOSSES.TRI
    return TripletLoss(margin=tri.MARGIN, norm_feat=tri.NORM_FEAT, hard_mining=tri.HARD_MINING,
                       metric=tri.METRIC, scale=tri.SCALE)
