"""IDM's training loss (Dai et al., "IDM: An Intermediate Domain Module for Domain Adaptive Person
Re-ID", ICCV 2021), as plain functions of one batch ``[source; target; mix]``.

With ``f`` the pooled (pre-neck) features, ``p`` the classifier's logits over the classes in use
(source identities, then target clusters), ``lambda = (lambda_s, lambda_t)`` the IDM's mixing ratios per
source / target pair and ``y_s``, ``y_t`` the labels of the pair:

- ``L_ce``: label-smoothed cross entropy of the source and target logits;
- ``L_tri``: batch-hard triplet on the source and target features (margin 0.3, Euclidean, raw ``f``);
- ``L_bridge_prob``: cross entropy of the mixed logits against the label-smoothed
  ``lambda_s onehot(y_s) + (1 - lambda_s) onehot(y_t)``, lambda detached;
- ``L_bridge_feat``: mean of ``lambda_s ||f_mix - f_s|| + lambda_t ||f_mix - f_t||``, lambda live (this and
  ``L_div`` train the IDM's ratio branch);
- ``L_div``: minus the batch standard deviations of ``lambda_s`` and ``lambda_t`` (population std, its
  square root clamped at 1e-12 as IDM's), which keeps the ratios from collapsing to one value;

total ``(1 - mu1) L_ce + L_tri + mu1 L_bridge_prob + mu2 L_bridge_feat + mu3 L_div``. Each term is returned
already weighted, under its own name, so the trainer's sum is the total and each is logged.
"""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F

from fastreid.modeling.losses.functional import cross_entropy_loss, triplet_loss

__all__ = ["bridge_prob_loss", "bridge_feat_loss", "diversity_loss", "idm_losses"]


def bridge_prob_loss(logits_mix: torch.Tensor, lambda_s: torch.Tensor, y_s: torch.Tensor, y_t: torch.Tensor,
                     epsilon: float = 0.1) -> torch.Tensor:
    """Cross entropy of ``logits_mix (B, K)`` against ``(1 - eps) q + eps / K`` with
    ``q = lambda_s onehot(y_s) + (1 - lambda_s) onehot(y_t)``; ``lambda_s (B,)`` is detached here."""
    k = logits_mix.shape[1]
    lam = lambda_s.detach().float().view(-1, 1)
    q = lam * F.one_hot(y_s, k).float() + (1.0 - lam) * F.one_hot(y_t, k).float()
    q = (1.0 - epsilon) * q + epsilon / k
    return -(q * F.log_softmax(logits_mix.float(), dim=1)).sum(dim=1).mean()


def bridge_feat_loss(f_s: torch.Tensor, f_t: torch.Tensor, f_mix: torch.Tensor, lambdas: torch.Tensor) -> torch.Tensor:
    """Mean over pairs of ``lambda_s ||f_mix - f_s||_2 + lambda_t ||f_mix - f_t||_2`` (``lambdas (B, 2)`` live;
    the square root is clamped at 1e-12, as the distances of the triplet loss)."""
    d_s = (f_mix - f_s).float().pow(2).sum(dim=1).clamp(min=1e-12).sqrt()
    d_t = (f_mix - f_t).float().pow(2).sum(dim=1).clamp(min=1e-12).sqrt()
    return (lambdas[:, 0] * d_s + lambdas[:, 1] * d_t).mean()


def diversity_loss(lambdas: torch.Tensor) -> torch.Tensor:
    """``-(std(lambda_s) + std(lambda_t))`` over the batch's pairs: the population std (divided by B, not
    B - 1), its square root clamped at 1e-12 so that equal ratios still have a finite gradient."""
    var = (lambdas.float() - lambdas.float().mean(dim=0)).pow(2).mean(dim=0)
    return -var.clamp(min=1e-12).sqrt().sum()


def idm_losses(features: torch.Tensor, logits: torch.Tensor, lambdas: torch.Tensor, targets: torch.Tensor, *,
               mu1: float = 0.7, mu2: float = 0.1, mu3: float = 1.0, epsilon: float = 0.1, margin: float = 0.3,
               norm_feat: bool = False, hard_mining: bool = True, metric: str = "euclidean") -> Dict[str, torch.Tensor]:
    """IDM's weighted loss terms (see the module docstring) for one batch.

    Args:
        features: (3B, D) pooled features of ``[source; target; mix]``.
        logits: (3B, K) logits over the classes in use, same order.
        lambdas: (B, 2) mixing ratios of the B pairs (rows sum to 1).
        targets: (2B,) labels of ``[source; target]`` (disjoint class ranges).
        mu1, mu2, mu3: the weights of the bridge and diversity terms.
        epsilon: label smoothing of both cross entropies.
        margin, norm_feat, hard_mining, metric: of the triplet loss (IDM: 0.3, False, True, euclidean).
    """
    b = lambdas.shape[0]
    if features.shape[0] != 3 * b or logits.shape[0] != 3 * b or targets.shape[0] != 2 * b:
        raise ValueError(f"idm_losses: features {tuple(features.shape)}, logits {tuple(logits.shape)}, targets "
                         f"{tuple(targets.shape)} for {b} pairs; expected 3B rows of features and logits, 2B targets")
    f_s, f_t, f_mix = features[:b], features[b:2 * b], features[2 * b:]
    y_s, y_t = targets[:b], targets[b:]
    ce = cross_entropy_loss(logits[:2 * b], targets, epsilon)
    tri = triplet_loss(features[:2 * b], targets, margin, norm_feat, hard_mining, metric)
    return {
        "loss_ce": (1.0 - mu1) * ce,
        "loss_triplet": tri,
        "loss_bridge_prob": mu1 * bridge_prob_loss(logits[2 * b:], lambdas[:, 0], y_s, y_t, epsilon),
        "loss_bridge_feat": mu2 * bridge_feat_loss(f_s, f_t, f_mix, lambdas),
        "loss_diversity": mu3 * diversity_loss(lambdas),
    }
