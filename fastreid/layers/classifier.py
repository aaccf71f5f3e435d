"""Identity classifiers: a plain linear layer and cosine-margin softmax variants.

Each classifier splits its work in two so a head can log accuracy on margin-free logits:
``similarity(x)`` gives raw scores ``(B, K)`` (dot products for "linear", cosines for the others) and
``apply_margin(sim, targets)`` turns them into the training logits (scale and margin applied; with
``targets=None`` only the scale, which is what accuracy and inference use).

- linear: ``W x`` (no bias: the BNNeck feature is already centred).
- cosface (Wang et al. 2018): ``s * (cos - m)`` on the target class, ``s * cos`` elsewhere.
- arcface (Deng et al. 2019): ``s * cos(theta + m)`` on the target class (kept monotonic in theta past
  ``pi - m`` by ``cos - m * sin(m)``), ``s * cos`` elsewhere.
- circle (Sun et al. 2020): self-paced weights ``a_p = relu(1 + m - cos)``, ``a_n = relu(cos + m)``
  (no gradient through them), target ``s * a_p * (cos - (1 - m))``, others ``s * a_n * (cos - m)``.
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Type

import torch
import torch.nn as nn
import torch.nn.functional as F

from fastreid.utils.errors import ConfigValueError

__all__ = [
    "LinearClassifier",
    "CosFaceClassifier",
    "ArcFaceClassifier",
    "CircleClassifier",
    "CLASSIFIERS",
    "build_classifier",
]


class LinearClassifier(nn.Module):
    """Bias-free linear classifier ``(B, D) -> (B, K)``; weight initialised N(0, 0.01)."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.normal_(self.weight, std=0.01)

    @property
    def num_classes(self) -> int:
        return self.weight.shape[0]

    def similarity(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)

    def apply_margin(self, sim: torch.Tensor, targets: Optional[torch.Tensor] = None) -> torch.Tensor:
        return sim

    def forward(self, x: torch.Tensor, targets: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Training logits ``(B, K)`` for features ``(B, D)``."""
        return self.apply_margin(self.similarity(x), targets)


class _CosineClassifier(LinearClassifier):
    """Cosine similarity between L2-normalised features and class weights, scaled by ``scale``."""

    def __init__(self, in_features: int, num_classes: int, scale: float, margin: float):
        super().__init__(in_features, num_classes)
        if scale <= 0:
            raise ConfigValueError(f"MODEL.HEADS.SCALE: {scale} is not allowed for a cosine classifier; expected > 0")
        self.scale = float(scale)
        self.margin = float(margin)

    def similarity(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(x, dim=1), F.normalize(self.weight, dim=1))

    def _target_mask(self, sim: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.one_hot(targets, sim.shape[1]).to(dtype=torch.bool)

    def apply_margin(self, sim: torch.Tensor, targets: Optional[torch.Tensor] = None) -> torch.Tensor:
        if targets is None:
            return sim * self.scale
        return self._margin(sim, self._target_mask(sim, targets)) * self.scale

    def _margin(self, cos: torch.Tensor, is_target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, scale={self.scale}, margin={self.margin}"


class CosFaceClassifier(_CosineClassifier):
    """Additive cosine margin: target logit ``s * (cos - m)``."""

    def _margin(self, cos: torch.Tensor, is_target: torch.Tensor) -> torch.Tensor:
        return torch.where(is_target, cos - self.margin, cos)


class ArcFaceClassifier(_CosineClassifier):
    """Additive angular margin: target logit ``s * cos(theta + m)``."""

    def _margin(self, cos: torch.Tensor, is_target: torch.Tensor) -> torch.Tensor:
        m = self.margin
        sin = torch.sqrt((1.0 - cos * cos).clamp(min=1e-7))
        with_margin = cos * math.cos(m) - sin * math.sin(m)
        # Past theta = pi - m, cos(theta + m) would rise again; continue linearly instead.
        fallback = cos - m * math.sin(m)
        with_margin = torch.where(cos > math.cos(math.pi - m), with_margin, fallback)
        return torch.where(is_target, with_margin, cos)


class CircleClassifier(_CosineClassifier):
    """Circle loss in classification form with self-paced, detached weights."""

    def _margin(self, cos: torch.Tensor, is_target: torch.Tensor) -> torch.Tensor:
        m = self.margin
        alpha_p = (1.0 + m - cos.detach()).clamp(min=0.0)
        alpha_n = (cos.detach() + m).clamp(min=0.0)
        return torch.where(is_target, alpha_p * (cos - (1.0 - m)), alpha_n * (cos - m))


CLASSIFIERS: Dict[str, Type[LinearClassifier]] = {
    "linear": LinearClassifier,
    "cosface": CosFaceClassifier,
    "arcface": ArcFaceClassifier,
    "circle": CircleClassifier,
}


def build_classifier(name: str, in_features: int, num_classes: int, scale: float = 1.0,
                     margin: float = 0.0) -> LinearClassifier:
    """Classifier ``name`` (case-insensitive): linear, cosface, arcface or circle."""
    key = str(name).lower()
    if key not in CLASSIFIERS:
        raise ConfigValueError(
            f"MODEL.HEADS.CLS_LAYER: '{name}' is not a classifier; expected one of {', '.join(CLASSIFIERS)}"
        )
    if key == "linear":
        return LinearClassifier(in_features, num_classes)
    return CLASSIFIERS[key](in_features, num_classes, scale=scale, margin=margin)
