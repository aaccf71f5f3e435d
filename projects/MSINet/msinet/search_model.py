"""The model searched by the SearchTrainer: a backbone (the MSI supernet) and the search head.

The head is the authors' search head: global average pooling of the final map gives the feature v
(B, 512) used by the twin memories; a BatchNorm neck (frozen bias) and a linear classifier without bias
serve the "softmax" scheme (MSINet-S) only. Without a classifier the neck is kept (it belongs to the
authors' parameter count) but frozen, so no optimizer or DDP reducer waits for its gradients.

Unlike the training meta-architecture ``Baseline``, ``SearchBaseline`` returns features, not loss
terms: the search computes its losses outside the model, with the memory of the split a batch comes
from (see ``search_objectives.py``).
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from fastreid.modeling.backbones.build import build_backbone
from fastreid.modeling.meta_arch.build import META_ARCH_REGISTRY
from fastreid.utils.errors import ConfigValueError

__all__ = ["SearchHead", "SearchBaseline", "build_search_baseline"]


class SearchHead(nn.Module):
    """GAP -> feature v (B, C); BN neck + bias-free linear classifier when ``num_classes > 0``.

    forward(final map (B, C, H, W)) -> training: {"features": v, and "logits": (B, num_classes) when a
    classifier exists}; eval: v (B, C).
    """

    def __init__(self, in_channels: int, num_classes: int = 0) -> None:
        super().__init__()
        self.neck = nn.BatchNorm1d(in_channels)
        nn.init.ones_(self.neck.weight)
        nn.init.zeros_(self.neck.bias)
        self.neck.bias.requires_grad_(False)
        self.classifier = None
        if num_classes > 0:
            self.classifier = nn.Linear(in_channels, num_classes, bias=False)
            nn.init.normal_(self.classifier.weight, std=0.001)
        else:
            self.neck.weight.requires_grad_(False)

    def forward(self, fmap: torch.Tensor) -> Union[torch.Tensor, Dict[str, torch.Tensor]]:
        v = F.adaptive_avg_pool2d(fmap, 1).flatten(1)
        if not self.training:
            return v
        out = {"features": v}
        if self.classifier is not None:
            out["logits"] = self.classifier(self.neck(v))
        return out


class SearchBaseline(nn.Module):
    """Backbone + :class:`SearchHead`, with input normalisation.

    Args:
        backbone: a backbone honouring the BACKBONE contract (``"final"`` map, ``out_channels``).
        num_classes: classifier size (0 = no classifier, the TCM scheme).
        pixel_mean, pixel_std: per-channel normalisation on the 0..255 scale.

    forward(batch): ``batch`` is a dict with "images" (B, 3, H, W) 0..255, or a bare image tensor. The
    caller's tensor is not modified. Training -> {"features" (B, D)[, "logits" (B, K)]};
    eval -> features (B, D).
    """

    def __init__(self, backbone: nn.Module, num_classes: int = 0,
                 pixel_mean: Sequence[float] = (123.675, 116.28, 103.53),
                 pixel_std: Sequence[float] = (58.395, 57.12, 57.375)) -> None:
        super().__init__()
        self.backbone = backbone
        self.feat_dim = int(backbone.out_channels["final"])
        self.heads = SearchHead(self.feat_dim, num_classes)
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def forward(self, batch: Union[torch.Tensor, Mapping[str, torch.Tensor]]):
        images = batch["images"] if isinstance(batch, Mapping) else batch
        images = (images.to(self.device, non_blocking=True).float() - self.pixel_mean) / self.pixel_std
        return self.heads(self.backbone(images)["final"])

    def arch_parameters(self) -> List[nn.Parameter]:
        """The backbone's architecture parameters (alpha)."""
        return list(self.backbone.arch_parameters())

    def genotype(self) -> List[str]:
        """Argmax op per IM of the backbone."""
        return self.backbone.genotype()

    def arch_weights(self) -> torch.Tensor:
        """softmax(alpha), (num_ims, num_ops), detached."""
        return self.backbone.arch_weights()


@META_ARCH_REGISTRY.register(name="SearchBaseline")
def build_search_baseline(cfg) -> SearchBaseline:
    """SearchBaseline from MODEL.BACKBONE (normally ``msinet_supernet``), MODEL.PIXEL_MEAN/STD, and
    MODEL.HEADS.NUM_CLASSES for the softmax scheme (the TCM scheme has no classifier)."""
    backbone = build_backbone(cfg)
    if not hasattr(backbone, "arch_parameters"):
        raise ConfigValueError(f"MODEL.BACKBONE.NAME: {cfg.MODEL.BACKBONE.NAME!r} has no architecture parameters; "
                         "SearchBaseline expects a supernet such as msinet_supernet")
    num_classes = int(cfg.MODEL.HEADS.NUM_CLASSES) if cfg.SEARCH.SCHEME == "softmax" else 0
    return SearchBaseline(backbone, num_classes, cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD)
