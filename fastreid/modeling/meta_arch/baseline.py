"""Baseline meta-architecture: normalise -> backbone -> head -> registered losses.

Input: a dict batch ``{"images": (B, 3, H, W) float 0..255, "targets": (B,) long}`` or, in eval mode, a
bare image tensor. Inputs are moved to the model's device and normalised out of place with
MODEL.PIXEL_MEAN / PIXEL_STD (the caller's tensors are never modified, so exported graphs take raw RGB).
Training returns the merged ``Dict[str, Tensor]`` of loss terms of every loss in MODEL.LOSSES.NAME;
eval returns the head's test feature ``(B, D)``.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Sequence, Union

import torch
import torch.nn as nn

from fastreid.utils.errors import ConfigValueError
from fastreid.utils.events import current_storage

from ..backbones import build_backbone
from ..heads import build_heads
from ..losses import build_losses
from ..losses.functional import accuracy
from .build import META_ARCH_REGISTRY

__all__ = ["Baseline"]

logger = logging.getLogger(__name__)

_NORMS = ("BN", "syncBN")


class Baseline(nn.Module):
    """Backbone + head + losses; see the module docstring.

    ``losses`` maps names to loss modules ``forward(outputs, targets) -> Dict[str, Tensor]``;
    ``pixel_mean`` / ``pixel_std`` are per-channel values on the 0..255 scale.
    """

    def __init__(self, backbone: nn.Module, heads: nn.Module, losses: nn.ModuleDict,
                 pixel_mean: Sequence[float], pixel_std: Sequence[float]):
        super().__init__()
        if len(pixel_mean) != 3 or len(pixel_std) != 3:
            raise ConfigValueError(f"MODEL.PIXEL_MEAN / PIXEL_STD: {list(pixel_mean)} / {list(pixel_std)}; "
                             "expected 3 values each")
        if any(s <= 0 for s in pixel_std):
            raise ConfigValueError(f"MODEL.PIXEL_STD: {list(pixel_std)}; expected positive values")
        self.backbone = backbone
        self.heads = heads
        self.losses = losses
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)

    @classmethod
    def from_config(cls, cfg) -> "Baseline":
        """Build backbone, head (NUM_CLASSES must already be set) and MODEL.LOSSES.NAME from ``cfg``."""
        backbone = build_backbone(cfg)
        norm = cfg.MODEL.BACKBONE.NORM
        if norm not in _NORMS:
            raise ConfigValueError(f"MODEL.BACKBONE.NORM: '{norm}' is not supported; expected one of {', '.join(_NORMS)}")
        if norm == "syncBN":
            backbone = nn.SyncBatchNorm.convert_sync_batchnorm(backbone)
        heads = build_heads(cfg, backbone.out_channels)
        return cls(backbone, heads, build_losses(cfg), cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_image(self, batch: Union[Dict[str, Any], torch.Tensor]) -> torch.Tensor:
        """Images ``(B, 3, H, W)`` 0..255 -> normalised float on the model's device (a new tensor)."""
        images = batch["images"] if isinstance(batch, dict) else batch
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"Baseline input images: got {shape}; expected a (B, 3, H, W) tensor")
        images = images.to(self.device, dtype=torch.float32, non_blocking=True)
        return (images - self.pixel_mean) / self.pixel_std

    def forward(self, batch: Union[Dict[str, Any], torch.Tensor]) -> Union[torch.Tensor, Dict[str, torch.Tensor]]:
        images = self.preprocess_image(batch)
        features = self.backbone(images)
        if not self.training:
            return self.heads(features)
        if not isinstance(batch, dict) or "targets" not in batch:
            raise ValueError("Baseline in training mode needs a dict batch with 'targets' (B,) long")
        targets = batch["targets"].to(self.device, non_blocking=True)
        outputs = dict(self.heads(features, targets))
        outputs["backbone_features"] = features
        return self.compute_losses(outputs, targets)

    def compute_losses(self, outputs: Dict[str, Any], targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Run every loss on ``outputs``; returns their merged terms. Two losses giving one name is an error."""
        self._log_accuracy(outputs, targets)
        terms: Dict[str, torch.Tensor] = {}
        owner: Dict[str, str] = {}
        for name, loss in self.losses.items():
            for key, value in loss(outputs, targets).items():
                if key in terms:
                    raise KeyError(f"loss term '{key}' is returned by both '{owner[key]}' and '{name}'; "
                                   "each term needs a unique name")
                terms[key] = value
                owner[key] = name
        return terms

    @staticmethod
    def _log_accuracy(outputs: Dict[str, Any], targets: torch.Tensor) -> None:
        storage = current_storage()
        logits = outputs.get("pred_logits") or outputs.get("logits")
        if storage is None or not isinstance(logits, dict) or not logits:
            return
        branch = logits["global"] if "global" in logits else next(iter(logits.values()))
        storage.put_scalar("cls_accuracy", accuracy(branch, targets))


META_ARCH_REGISTRY.register(Baseline.from_config, name="Baseline")
