"""Twin memories of the Twins Contrastive Mechanism (MSINet, CVPR 2023, Section 3.1, Eq. 2-3).

The search keeps one memory per identity split (training and validation); each stores one
L2-normalised slot per identity. The contrastive loss is the cross entropy of cosine similarities
between a sample's normalised feature and every slot, divided by a temperature (0.05). After each
backward pass the slot of every sample's identity moves toward the sample's feature
(``slot = beta * slot + (1 - beta) * feature``, beta = 0.2) and is re-normalised.

In a distributed run the momentum update uses the features of every process (gathered in rank order),
so all processes apply the same sequence of updates and their memories stay identical.

The memory is the toolbox's :class:`~fastreid.layers.cluster_memory.ClusterMemory` (the ClusterNCE memory
of clustering-based ReID) under the paper's name; ``class_centroids`` is the toolbox's.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Tuple

import torch
import torch.nn as nn

from fastreid.evaluation.features import extract_features
from fastreid.layers.cluster_memory import ClusterMemory, class_centroids

__all__ = ["TwinMemory", "class_centroids", "extract_split_features"]


class TwinMemory(ClusterMemory):
    """One identity memory of the Twins Contrastive Mechanism (the search builds one per split).

    The toolbox's :class:`~fastreid.layers.cluster_memory.ClusterMemory` under the paper's name: the
    loss is Eq. 2, the momentum update Eq. 3.

    Args:
        num_classes: identities of the split (labels ``0 .. num_classes - 1``).
        feat_dim: feature size D (512 for the MSI supernet).
        temperature: tau of Eq. 2 (0.05 in the paper).
        momentum: beta of Eq. 3, the weight the old slot keeps (0.2 in the paper).

    The slots live in the buffer ``slots`` (num_classes, D), so they follow ``.to(device)`` and are
    saved with ``state_dict()``. They start at zero (the authors' start); call ``initialize`` with
    class centroids for the paper's start.
    """

    #: the identity count is fixed by the split: a checkpoint with another count is an error, not a resize
    resize_on_load = False


def extract_split_features(model: nn.Module, batches: Iterable[Mapping],
                           device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` in eval mode over ``batches`` of one split; returns (features (N, D), targets (N,)) on
    ``device``.

    In a distributed run each process passes its own shard of the split; the result holds every
    process's features (rank order), so every process then computes the same centroids (a process with
    an empty shard still joins). The model's train/eval mode is restored afterwards. The loop is the
    toolbox's :func:`~fastreid.evaluation.features.extract_features`.
    """
    out = extract_features(model, batches, gather=True)
    if out.targets is None and out.features.shape[0] == 0:  # every shard empty
        return out.features.to(device), torch.zeros(0, dtype=torch.long, device=device)
    if not isinstance(out.targets, torch.Tensor):
        raise ValueError(f"extract_split_features: the split's 'targets' are {type(out.targets).__name__}; "
                         "expected integer identity labels in every batch")
    return out.features.to(device), out.targets.to(device)
