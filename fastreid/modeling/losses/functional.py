"""Plain loss and distance functions, usable without a config (the registered losses wrap them).

Distances take ``x (M, D)`` and ``y (N, D)`` and return ``(M, N)``:
- :func:`euclidean_dist`: ``||x_i - y_j||_2`` (square root clamped at 1e-12 to keep gradients finite);
- :func:`cosine_dist`: ``1 - cos(x_i, y_j)`` in [0, 2].
"""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F

from fastreid.utils.errors import ConfigValueError

__all__ = [
    "euclidean_dist",
    "cosine_dist",
    "pairwise_distance",
    "cross_entropy_loss",
    "hard_example_mining",
    "weighted_example_mining",
    "triplet_loss",
    "accuracy",
]

_METRICS = ("euclidean", "cosine")


def euclidean_dist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Euclidean distances ``(M, N)`` between the rows of ``x (M, D)`` and ``y (N, D)``."""
    sq = x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1, keepdim=True).t() - 2.0 * (x @ y.t())
    return sq.clamp(min=1e-12).sqrt()


def cosine_dist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cosine distances ``1 - cos`` ``(M, N)`` between the rows of ``x (M, D)`` and ``y (N, D)``."""
    return 1.0 - F.normalize(x, dim=1) @ F.normalize(y, dim=1).t()


def pairwise_distance(x: torch.Tensor, y: torch.Tensor, metric: str = "euclidean") -> torch.Tensor:
    """``euclidean_dist`` or ``cosine_dist`` chosen by ``metric``."""
    if metric == "euclidean":
        return euclidean_dist(x, y)
    if metric == "cosine":
        return cosine_dist(x, y)
    raise ValueError(f"distance metric: '{metric}' is not supported; expected one of {', '.join(_METRICS)}")


def cross_entropy_loss(logits: torch.Tensor, targets: torch.Tensor, epsilon: float = 0.0) -> torch.Tensor:
    """Mean cross entropy of ``logits (B, K)`` against ``targets (B,)`` with label smoothing.

    The smoothed target puts ``1 - epsilon + epsilon / K`` on the true class and ``epsilon / K`` on each
    class (Szegedy et al. 2016; the form torchreid and the MSINet authors use, equal to
    ``F.cross_entropy(..., label_smoothing=epsilon)``). ``epsilon = 0`` is plain cross entropy.
    """
    if not 0.0 <= epsilon < 1.0:
        raise ConfigValueError(f"MODEL.LOSSES.CE.EPSILON: {epsilon} is out of range; expected 0 <= epsilon < 1")
    log_probs = F.log_softmax(logits.float(), dim=1)
    nll = -log_probs.gather(1, targets.view(-1, 1)).squeeze(1)
    if epsilon == 0.0:
        return nll.mean()
    uniform = -log_probs.mean(dim=1)
    return ((1.0 - epsilon) * nll + epsilon * uniform).mean()


def _pair_masks(targets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    same = targets.view(-1, 1) == targets.view(1, -1)
    eye = torch.eye(len(targets), dtype=torch.bool, device=targets.device)
    return same & ~eye, ~same


def hard_example_mining(dist: torch.Tensor, targets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Hardest positive (largest distance) and hardest negative (smallest) per anchor.

    ``dist (B, B)``, ``targets (B,)``; returns ``(d_ap (B,), d_an (B,))``. The anchor itself is not its own
    positive; an anchor without other positives gets ``d_ap = 0``, one without negatives ``d_an = inf``.
    """
    is_pos, is_neg = _pair_masks(targets)
    zero = dist.new_zeros(())
    d_ap = torch.where(is_pos, dist, zero).max(dim=1).values
    d_an = torch.where(is_neg, dist, dist.new_full((), float("inf"))).min(dim=1).values
    return d_ap, d_an


def weighted_example_mining(dist: torch.Tensor, targets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Softmax-weighted positive and negative distances per anchor (weighted regularised triplet, AGW).

    Positives are weighted by ``softmax(d)`` over the anchor's positives (far ones count more), negatives
    by ``softmax(-d)`` over its negatives (near ones count more). Same shapes and edge cases as
    :func:`hard_example_mining`.
    """
    is_pos, is_neg = _pair_masks(targets)
    neg_inf = dist.new_full((), float("-inf"))
    w_ap = torch.softmax(torch.where(is_pos, dist, neg_inf), dim=1).nan_to_num(0.0)
    w_an = torch.softmax(torch.where(is_neg, -dist, neg_inf), dim=1).nan_to_num(0.0)
    d_ap = (w_ap * dist).sum(dim=1)
    d_an = torch.where(is_neg.any(dim=1), (w_an * dist).sum(dim=1), dist.new_full((), float("inf")))
    return d_ap, d_an


def triplet_loss(features: torch.Tensor, targets: torch.Tensor, margin: float = 0.3, norm_feat: bool = False,
                 hard_mining: bool = True, metric: str = "euclidean") -> torch.Tensor:
    """Batch triplet loss on ``features (B, D)`` with identity ``targets (B,)``; a scalar.

    ``margin > 0``: mean of ``relu(d_ap - d_an + margin)``; ``margin == 0``: soft margin, mean of
    ``softplus(d_ap - d_an)``. ``norm_feat`` L2-normalises the features first; ``metric`` is
    "euclidean" or "cosine"; ``hard_mining`` picks batch-hard mining, else softmax-weighted mining.
    Anchors with no negative in the batch are left out; if none is left the loss is 0 (still connected
    to the graph, so backward works).
    """
    if margin < 0:
        raise ConfigValueError(f"MODEL.LOSSES.TRI.MARGIN: {margin} is negative; expected >= 0 (0 = soft margin)")
    feats = features.float()
    if norm_feat:
        feats = F.normalize(feats, dim=1)
    dist = pairwise_distance(feats, feats, metric)
    mine = hard_example_mining if hard_mining else weighted_example_mining
    d_ap, d_an = mine(dist, targets)
    valid = torch.isfinite(d_an)
    if not bool(valid.any()):
        return feats.sum() * 0.0
    diff = d_ap[valid] - d_an[valid]
    if margin > 0:
        return F.relu(diff + margin).mean()
    return F.softplus(diff).mean()


@torch.no_grad()
def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Top-1 accuracy (a fraction in [0, 1]) of ``logits (B, K)`` against ``targets (B,)``."""
    return (logits.argmax(dim=1) == targets).float().mean().item()
