"""Cluster memory: one L2-normalised slot per class, a contrastive loss over the slots, momentum updates.

The memory of Cluster Contrast (ClusterNCE) and of MSINet's Twins Contrastive Mechanism. The logits of a
sample are the cosine similarities between its normalised feature and every slot, divided by a
temperature; the loss is their cross entropy with the sample's class. After each backward pass the slot
of every sample's class moves toward the sample's feature (``slot = m * slot + (1 - m) * feature``) and
is re-normalised, sample by sample in batch order, so a class seen twice in one batch moves twice.

In a distributed run the update uses the features of every process (gathered in rank order), so all
processes apply the same sequence of updates and their memories stay identical.

Clustering-based training rebuilds the memory every clustering round with another number of clusters
(:meth:`ClusterMemory.rebuild`); a checkpoint restores whatever number of slots it was saved with.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F

from fastreid.utils.comm import gather_across_ranks

__all__ = ["ClusterMemory", "class_centroids"]

logger = logging.getLogger(__name__)


def class_centroids(features: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-class mean of L2-normalised features, itself L2-normalised (the memory's usual start).

    Args:
        features: (N, D) features, e.g. of a whole split or of the clustered training set.
        targets: (N,) class labels in ``[0, num_classes)``.
        num_classes: number of rows of the result.
    Returns:
        (num_classes, D) unit-norm centroids on the features' device; a class without samples gets a
        zero row.
    """
    if features.dim() != 2:
        raise ValueError(f"class_centroids features: shape {tuple(features.shape)}; expected (N, D)")
    if targets.shape != (features.shape[0],):
        raise ValueError(f"class_centroids targets: shape {tuple(targets.shape)}; expected ({features.shape[0]},)")
    if num_classes < 1:
        raise ValueError(f"class_centroids num_classes: {num_classes}; expected a positive class count")
    labels = targets.to(features.device).long()
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"class_centroids targets: labels span [{int(labels.min())}, {int(labels.max())}]; "
                         f"expected [0, {num_classes})")
    feats = F.normalize(features.float(), dim=1)
    sums = feats.new_zeros((num_classes, feats.shape[1]))
    sums.index_add_(0, labels, feats)
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1).to(sums)
    return F.normalize(sums / counts[:, None], dim=1)


def _count_empty_rows(centroids: torch.Tensor) -> int:
    """Rows that are all zero (classes without samples)."""
    return int((centroids.abs().sum(dim=1) == 0).sum())


class ClusterMemory(nn.Module):
    """A memory of one L2-normalised slot per class, with the ClusterNCE loss and momentum updates.

    Args:
        num_classes: classes (or clusters) at the start, labels ``0 .. num_classes - 1``.
        feat_dim: feature size D.
        temperature: divides the cosine similarities (0.05 in Cluster Contrast and MSINet).
        momentum: the weight the old slot keeps in an update, in ``[0, 1)`` (0.2 in MSINet).
        persistent: whether ``state_dict()`` holds the slots.

    The slots live in the buffer ``slots`` (num_classes, D), so they follow ``.to(device)`` and are saved
    with ``state_dict()``. They start at zero; :meth:`initialize` sets centroids of the same count,
    :meth:`rebuild` replaces them by centroids of any count.
    """

    slots: torch.Tensor
    #: whether ``load_state_dict`` takes a saved ``slots`` of another row count (a new clustering round);
    #: a subclass whose class count is fixed by the data sets it False to keep the size check
    resize_on_load: bool = True

    def __init__(self, num_classes: int, feat_dim: int, temperature: float = 0.05, momentum: float = 0.2,
                 persistent: bool = True):
        super().__init__()
        name = type(self).__name__
        if num_classes < 1:
            raise ValueError(f"{name} num_classes: {num_classes} is not a positive class count")
        if feat_dim < 1:
            raise ValueError(f"{name} feat_dim: {feat_dim} is not a positive feature size")
        if temperature <= 0:
            raise ValueError(f"{name} temperature: {temperature} must be > 0")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"{name} momentum: {momentum} must lie in [0, 1)")
        self.feat_dim = int(feat_dim)
        self.temperature = float(temperature)
        self.momentum = float(momentum)
        # persistent=False leaves the slots out of state_dict(): a method that saves them itself (clustering
        # rounds do, with their pseudo-labels) keeps the model's checkpoint loadable into a plain config
        self.register_buffer("slots", torch.zeros(int(num_classes), self.feat_dim), persistent=persistent)

    @property
    def num_classes(self) -> int:
        """Current number of slots (changes with :meth:`rebuild` and with a loaded checkpoint)."""
        return int(self.slots.shape[0])

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, feat_dim={self.feat_dim}, "
                f"temperature={self.temperature}, momentum={self.momentum}")

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Cosine similarities to every slot over the temperature: (B, D) -> (B, num_classes)."""
        return F.normalize(features, dim=1) @ self.slots.t() / self.temperature

    def loss(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross entropy of :meth:`logits` with the class labels (ClusterNCE), averaged over the batch.

        Gradients flow into ``features`` only; the slots change through :meth:`update`.
        """
        return F.cross_entropy(self.logits(features), targets)

    @torch.no_grad()
    def update(self, features: torch.Tensor, targets: torch.Tensor) -> None:
        """Momentum update with the batch of every process, sample by sample in rank then batch order.

        Args:
            features: (B, D) features of this process's batch (normalised here).
            targets: (B,) their class labels.
        """
        feats = F.normalize(gather_across_ranks(features.float()), dim=1).to(self.slots)
        labels = gather_across_ranks(targets.to(features.device)).long().tolist()
        for feat, label in zip(feats, labels):
            # a class seen twice in one batch is updated twice, in batch order
            slot = self.momentum * self.slots[label] + (1.0 - self.momentum) * feat
            self.slots[label] = slot / slot.norm().clamp(min=1e-12)

    @torch.no_grad()
    def initialize(self, centroids: torch.Tensor) -> None:
        """Set every slot to the given (num_classes, D) centroids, re-normalised (the count is kept)."""
        if tuple(centroids.shape) != tuple(self.slots.shape):
            raise ValueError(f"{type(self).__name__}.initialize: centroids of shape {tuple(centroids.shape)}, "
                             f"expected {tuple(self.slots.shape)}")
        self.slots.copy_(F.normalize(centroids.to(self.slots), dim=1))
        self._warn_empty(centroids)

    @torch.no_grad()
    def rebuild(self, centroids: torch.Tensor) -> None:
        """Replace the slots by the given (C', D) centroids, re-normalised, for any C' >= 1.

        The buffer is replaced (same device and dtype), so ``state_dict()`` carries the new shape; what a
        clustering round calls with the centroids of its new clusters.
        """
        if centroids.dim() != 2 or centroids.shape[0] < 1 or centroids.shape[1] != self.feat_dim:
            raise ValueError(f"{type(self).__name__}.rebuild: centroids of shape {tuple(centroids.shape)}, "
                             f"expected (C >= 1, {self.feat_dim})")
        self.slots = F.normalize(centroids.detach().to(self.slots), dim=1).clone()
        self._warn_empty(centroids)

    @torch.no_grad()
    def reset(self) -> None:
        """Zero every slot (the count is kept)."""
        self.slots.zero_()

    def _warn_empty(self, centroids: torch.Tensor) -> None:
        empty = _count_empty_rows(centroids)
        if empty:
            logger.warning("%s: %d of %d classes have no samples; their slots stay zero",
                           type(self).__name__, empty, self.num_classes)

    def _load_from_state_dict(self, state_dict: Dict[str, Any], prefix: str, local_metadata: Dict[str, Any],
                              strict: bool, missing_keys: List[str], unexpected_keys: List[str],
                              error_msgs: List[str]) -> None:
        """Resize the slots to a saved (C', D) first: a resumed clustering run has its own cluster count."""
        saved = state_dict.get(prefix + "slots")
        if (self.resize_on_load and isinstance(saved, torch.Tensor) and saved.dim() == 2 and saved.shape[0] >= 1
                and saved.shape[1] == self.feat_dim and saved.shape[0] != self.num_classes):
            self.slots = self.slots.new_zeros(tuple(saved.shape))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
