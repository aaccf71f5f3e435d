"""Losses of the two search schemes, one objective per identity split.

- ``"tcm"`` (Twins Contrastive Mechanism, paper Sec. 3.1): each split has its own
  :class:`~msinet.memory.TwinMemory`; the loss is the memory's contrastive loss and, after the step,
  the memory takes the batch's features (Eq. 3).
- ``"softmax"`` (MSINet-S, supplement Sec. 9): the model's single linear classifier with cross
  entropy on both splits (the splits then share their identities).

An objective takes the SearchBaseline's training output (``{"features": (B, D)[, "logits": (B, K)]}``)
and the batch labels (B,).
"""

from __future__ import annotations

from typing import Callable, Dict, Mapping, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from fastreid.utils.errors import ConfigValueError

from .memory import TwinMemory

__all__ = ["SearchObjective", "ContrastiveObjective", "SoftmaxObjective", "SEARCH_SCHEMES", "build_objective"]


class SearchObjective:
    """Loss of one split; ``after_step`` runs once the optimizer step of that loss is done."""

    memory: Optional[TwinMemory] = None

    def loss(self, outputs: Mapping[str, torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def after_step(self, outputs: Mapping[str, torch.Tensor], targets: torch.Tensor) -> None:
        pass


class ContrastiveObjective(SearchObjective):
    """TCM: contrastive loss against the split's memory (Eq. 2), then its momentum update (Eq. 3)."""

    def __init__(self, memory: TwinMemory) -> None:
        self.memory = memory

    def loss(self, outputs, targets):
        return self.memory.loss(outputs["features"], targets.to(outputs["features"].device))

    def after_step(self, outputs, targets):
        self.memory.update(outputs["features"].detach(), targets.to(outputs["features"].device))


class SoftmaxObjective(SearchObjective):
    """MSINet-S: cross entropy of the model's linear classifier."""

    def loss(self, outputs, targets):
        if "logits" not in outputs:
            raise KeyError("SEARCH.SCHEME 'softmax' needs a classifier; the model returned no 'logits' "
                           "(build it with MODEL.HEADS.NUM_CLASSES > 0)")
        return F.cross_entropy(outputs["logits"], targets.to(outputs["logits"].device))


def _tcm(num_classes: int, feat_dim: int, cfg) -> SearchObjective:
    return ContrastiveObjective(TwinMemory(num_classes, feat_dim, temperature=cfg.SEARCH.TEMPERATURE,
                                           momentum=cfg.SEARCH.MEMORY_MOMENTUM))


def _softmax(num_classes: int, feat_dim: int, cfg) -> SearchObjective:
    return SoftmaxObjective()


SEARCH_SCHEMES: Dict[str, Callable[[int, int, object], SearchObjective]] = {"tcm": _tcm, "softmax": _softmax}


def build_objective(cfg, num_classes: int, feat_dim: int, device: torch.device) -> SearchObjective:
    """The objective of one split for ``cfg.SEARCH.SCHEME``; its memory (if any) lives on ``device``."""
    scheme = cfg.SEARCH.SCHEME
    if scheme not in SEARCH_SCHEMES:
        raise ConfigValueError(f"SEARCH.SCHEME: {scheme!r} is not a search scheme; expected one of "
                         f"{', '.join(SEARCH_SCHEMES)}")
    objective = SEARCH_SCHEMES[scheme](num_classes, feat_dim, cfg)
    if isinstance(objective.memory, nn.Module):
        objective.memory.to(device)
    return objective
