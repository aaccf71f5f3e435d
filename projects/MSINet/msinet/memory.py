"""Twin memories of the Twins Contrastive Mechanism (MSINet, CVPR 2023, Section 3.1, Eq. 2-3).

The search keeps one memory per identity split (training and validation); each stores one
L2-normalised slot per identity. The contrastive loss is the cross entropy of cosine similarities
between a sample's normalised feature and every slot, divided by a temperature (0.05). After each
backward pass the slot of every sample's identity moves toward the sample's feature
(``slot = beta * slot + (1 - beta) * feature``, beta = 0.2) and is re-normalised.

In a distributed run the momentum update uses the features of every process (gathered in rank order),
so all processes apply the same sequence of updates and their memories stay identical.
"""

from __future__ import annotations

import logging
from typing import Iterable, List, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from fastreid.utils.comm import gather_across_ranks

__all__ = ["TwinMemory", "class_centroids", "extract_split_features"]

logger = logging.getLogger(__name__)


def class_centroids(features: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-class mean of L2-normalised features, itself L2-normalised.

    Args:
        features: (N, D) features of a whole split.
        targets: (N,) identity labels in ``[0, num_classes)``.
    Returns:
        (num_classes, D) unit-norm centroids; an identity without samples gets a zero row.
    """
    feats = F.normalize(features.float(), dim=1)
    sums = feats.new_zeros((num_classes, feats.shape[1]))
    sums.index_add_(0, targets.long(), feats)
    counts = torch.bincount(targets.long(), minlength=num_classes).clamp(min=1).to(sums)
    return F.normalize(sums / counts[:, None], dim=1)


class TwinMemory(nn.Module):
    """One identity memory of the Twins Contrastive Mechanism (the search builds one per split).

    Args:
        num_classes: identities of the split (labels ``0 .. num_classes - 1``).
        feat_dim: feature size D (512 for the MSI supernet).
        temperature: tau of Eq. 2 (0.05 in the paper).
        momentum: beta of Eq. 3, the weight the old slot keeps (0.2 in the paper).

    The slots live in the buffer ``slots`` (num_classes, D), so they follow ``.to(device)`` and are
    saved with ``state_dict()``. They start at zero (the authors' start); call ``initialize`` with
    class centroids for the paper's start.
    """

    def __init__(self, num_classes: int, feat_dim: int, temperature: float = 0.05, momentum: float = 0.2):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"TwinMemory num_classes: {num_classes} is not a positive identity count")
        if temperature <= 0:
            raise ValueError(f"TwinMemory temperature: {temperature} must be > 0")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"TwinMemory momentum: {momentum} must lie in [0, 1)")
        self.num_classes = num_classes
        self.feat_dim = feat_dim
        self.temperature = temperature
        self.momentum = momentum
        self.register_buffer("slots", torch.zeros(num_classes, feat_dim))

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, feat_dim={self.feat_dim}, "
                f"temperature={self.temperature}, momentum={self.momentum}")

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Cosine similarities to every slot over the temperature: (B, D) -> (B, num_classes)."""
        return F.normalize(features, dim=1) @ self.slots.t() / self.temperature

    def loss(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Contrastive classification loss of Eq. 2, averaged over the batch (scalar).

        Gradients flow into ``features`` only; the slots change through ``update``.
        """
        return F.cross_entropy(self.logits(features), targets)

    @torch.no_grad()
    def update(self, features: torch.Tensor, targets: torch.Tensor) -> None:
        """Momentum update of Eq. 3 with the batch of every process, sample by sample in rank order.

        Args:
            features: (B, D) features of this process's batch (normalised here).
            targets: (B,) their identity labels.
        """
        feats = F.normalize(gather_across_ranks(features.float()), dim=1).to(self.slots)
        labels = gather_across_ranks(targets.to(features.device)).long().tolist()
        for feat, label in zip(feats, labels):
            # a class seen twice in one batch is updated twice, as the authors' memory does
            slot = self.momentum * self.slots[label] + (1.0 - self.momentum) * feat
            self.slots[label] = slot / slot.norm().clamp(min=1e-12)

    @torch.no_grad()
    def initialize(self, centroids: torch.Tensor) -> None:
        """Set every slot to the given (num_classes, D) centroids, re-normalised."""
        if tuple(centroids.shape) != tuple(self.slots.shape):
            raise ValueError(
                f"TwinMemory.initialize: centroids of shape {tuple(centroids.shape)}, "
                f"expected {tuple(self.slots.shape)}"
            )
        self.slots.copy_(F.normalize(centroids.to(self.slots), dim=1))
        empty = int((centroids.abs().sum(dim=1) == 0).sum())
        if empty:
            logger.warning("TwinMemory: %d of %d identities have no samples; their slots stay zero",
                           empty, self.num_classes)

    @torch.no_grad()
    def reset(self) -> None:
        """Zero every slot (the authors' start)."""
        self.slots.zero_()


@torch.no_grad()
def extract_split_features(model: nn.Module, batches: Iterable[Mapping], device: torch.device):
    """Run ``model`` in eval mode over ``batches`` of one split; returns (features (N, D), targets (N,)).

    In a distributed run each process passes its own shard of the split; the result holds every
    process's features (rank order), so every process then computes the same centroids. The model's
    train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    feats: List[torch.Tensor] = []
    labels: List[torch.Tensor] = []
    try:
        for batch in batches:
            feats.append(model(batch["images"].to(device)).float())
            labels.append(batch["targets"].to(device))
    finally:
        model.train(was_training)
    if feats:
        local_f, local_t = torch.cat(feats), torch.cat(labels)
    else:  # a process with an empty shard still joins the gather
        dim = getattr(model, "feat_dim", None)
        if dim is None:
            raise RuntimeError("extract_split_features: empty shard and the model exposes no feat_dim")
        local_f = torch.zeros(0, dim, device=device)
        local_t = torch.zeros(0, dtype=torch.long, device=device)
    return gather_across_ranks(local_f), gather_across_ranks(local_t)
