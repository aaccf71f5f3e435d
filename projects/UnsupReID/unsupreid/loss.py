"""``ClusterNCELoss``: the cluster memory's contrastive loss, registered in the toolbox's LOSS registry.

Each image's feature (the head's training features concatenated in the order the head gives them: for
the toolbox's heads, the vector evaluation returns) is compared with every cluster slot of a
:class:`~fastreid.layers.ClusterMemory`; the loss is the cross entropy with the image's pseudo-label
(Cluster Contrast, Dai et al. 2021). After the loss is formed, the slots of the batch's clusters move
toward the batch's features (momentum update, every process's batch in rank order).

The memory's slots are rebuilt by every clustering round (:mod:`unsupreid.pseudo_labels`) and saved by
it, not with the model: a trained model's checkpoint holds only the network, so it loads into any
config of the same backbone and head (evaluation, export, the predictor).
"""

from __future__ import annotations

from typing import Any, Dict

import torch
import torch.nn as nn

from fastreid.layers import ClusterMemory
from fastreid.modeling.losses import LOSS_REGISTRY

__all__ = ["ClusterNCELoss", "head_features"]


def head_features(outputs: Dict[str, Any]) -> torch.Tensor:
    """The head's training features as one (B, D) tensor (its branches concatenated in order)."""
    feats = outputs.get("features")
    if isinstance(feats, torch.Tensor):
        return feats
    if not isinstance(feats, dict) or not feats:
        raise ValueError("ClusterNCELoss: the head's training output has no 'features'; expected a head such as "
                         "EmbeddingHead or FBLNeck")
    return torch.cat(list(feats.values()), dim=1)


class ClusterNCELoss(nn.Module):
    """ClusterNCE over a cluster memory; ``forward(outputs, targets) -> {"loss_cluster_nce": ...}``.

    Args:
        temperature, momentum: of the memory (UNSUP.MEMORY.TEMP / MOMENTUM).

    The memory is created at the first clustering round (:meth:`rebuild`), when the feature size and
    the cluster count are known.
    """

    def __init__(self, temperature: float = 0.05, momentum: float = 0.1):
        super().__init__()
        self.temperature = float(temperature)
        self.momentum = float(momentum)
        self.memory: ClusterMemory = None  # type: ignore[assignment]

    @torch.no_grad()
    def rebuild(self, centroids: torch.Tensor) -> None:
        """Slots := the (C, D) cluster centroids of a new round (a memory of the new size)."""
        device = next((b.device for b in self.buffers()), centroids.device)
        if self.memory is None or self.memory.feat_dim != centroids.shape[1]:
            self.memory = ClusterMemory(centroids.shape[0], centroids.shape[1], self.temperature, self.momentum,
                                        persistent=False).to(device)
        self.memory.rebuild(centroids.to(device))

    def forward(self, outputs: Dict[str, Any], targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        if self.memory is None:
            raise RuntimeError("ClusterNCELoss: no cluster memory yet; a clustering round must run before the "
                               "first iteration (unsupreid.ClusterTrainer does)")
        feats = head_features(outputs)
        if feats.shape[1] != self.memory.feat_dim:
            raise ValueError(f"ClusterNCELoss: training features of size {feats.shape[1]}, memory slots of size "
                             f"{self.memory.feat_dim}; expected the head's training features to be the vector "
                             "evaluation returns")
        # the logits read a copy of the slots: the update below changes them in place
        logits = nn.functional.normalize(feats, dim=1) @ self.memory.slots.clone().t() / self.memory.temperature
        loss = nn.functional.cross_entropy(logits, targets)
        self.memory.update(feats.detach(), targets)
        return {"loss_cluster_nce": loss}


@LOSS_REGISTRY.register(name="ClusterNCELoss")
def build_cluster_nce_loss(cfg) -> ClusterNCELoss:
    """UNSUP.MEMORY.{TEMP, MOMENTUM} -> :class:`ClusterNCELoss`."""
    return ClusterNCELoss(cfg.UNSUP.MEMORY.TEMP, cfg.UNSUP.MEMORY.MOMENTUM)
