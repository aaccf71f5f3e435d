"""Spatial Alignment Module (SAM) of MSINet (CVPR 2023, Sec. 3.3, Eq. 7-8) as a training-only loss.

Mutual Conv (non-parametric): for the final maps ``x`` ``(B, C, H, W)``, N = H * W, the activation of
anchor i towards sample j is ``a(i, j)[n] = max_m <x_i[:, m], x_j[:, n]>`` - an N-vector indexed by
j's positions. PAM (Position Activation Module): query / key 1x1 convs (C -> C/8, with bias) give an
N x N energy per image; its max over the key axis is the self-activation ``a_hat(i)``.

Loss modes (paper Table 5; the cosine distance is 1 - cosine similarity):

- ``positives``: positives p of i (i included) aligned to the mutual self-activation a(i, i);
- ``negatives``: every pair (n1, n2) of negatives of i aligned with each other;
- ``unified``: every pair of samples of the batch aligned with each other, positives and negatives alike;
- ``separated``: ``positives`` + ``negatives``;
- ``separated_pam``: positives aligned to the PAM activation a_hat(i) + ``negatives`` (Eq. 8, the SAM
  of MSINet-SAM). ``softmax=True`` applies a softmax over the PAM energy first (Table 11).

Means are taken over all (anchor, pair) terms of the batch, which equals the authors' per-anchor form
for identity-balanced (P x K) batches. The map size follows the input (16x8 persons, 16x16 vehicles at
256x128 / 256x256). Nothing here runs at inference.
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from fastreid.modeling.losses.build import LOSS_REGISTRY
from fastreid.utils.errors import ConfigValueError

__all__ = ["SAM_MODES", "mutual_activation", "PositionActivation", "SpatialAlignLoss",
           "build_spatial_align_loss", "check_sam_mode"]

SAM_MODES = ("positives", "negatives", "unified", "separated", "separated_pam")


def check_sam_mode(mode: object) -> None:
    """MODEL.SAM.MODE is one of :data:`SAM_MODES` (else one line naming the key and value)."""
    if mode not in SAM_MODES:
        raise ConfigValueError(f"MODEL.SAM.MODE: {mode!r}; expected one of {', '.join(SAM_MODES)}",
                               key="MODEL.SAM.MODE", value=mode, expected=", ".join(SAM_MODES))


def mutual_activation(x: torch.Tensor) -> torch.Tensor:
    """Mutual Conv: ``(B, C, H, W) -> (B, B, N)`` with ``out[i, j, n] = max_m <x_i[:, m], x_j[:, n]>``."""
    b, c, h, w = x.shape
    n = h * w
    flat = x.reshape(b, c, n).transpose(1, 2).reshape(b * n, c)
    corr = (flat @ flat.t()).view(b, n, b, n)  # [i, m, j, n]
    return corr.amax(dim=1)


class PositionActivation(nn.Module):
    """PAM: ``(B, C, H, W) -> (B, N)``, the max over key positions of the query-key energy."""

    def __init__(self, in_channels: int, mid_channels: int = 64, softmax: bool = False) -> None:
        super().__init__()
        self.query = nn.Conv2d(in_channels, mid_channels, 1)
        self.key = nn.Conv2d(in_channels, mid_channels, 1)
        self.softmax = softmax
        for conv in (self.query, self.key):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.query(x).flatten(2)  # (B, D, N)
        k = self.key(x).flatten(2)
        energy = torch.bmm(q.transpose(1, 2), k)  # (B, N_query, N_key)
        if self.softmax:
            energy = torch.softmax(energy, dim=-1)
        return energy.amax(dim=-1)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    count = mask.sum()
    if count == 0:
        return values.sum() * 0.0  # keeps the graph; no pair of that kind in this batch
    return (values * mask).sum() / count


class SpatialAlignLoss(nn.Module):
    """Spatial alignment loss over the final feature maps of a batch.

    Args:
        in_channels: channels of the final map (PAM input); used only by ``separated_pam``.
        mode: one of :data:`SAM_MODES`.
        weight: lambda_sa, multiplies the loss.
        pam_channels: PAM query/key width.
        softmax: softmax over the PAM energy (Table 11 ablation).

    ``forward(outputs, targets (B,)) -> {"loss_sam": weight * loss}`` reads
    ``outputs["backbone_features"]["final"]`` ``(B, C, H, W)``.
    """

    def __init__(self, in_channels: int, mode: str = "separated_pam", weight: float = 2.0,
                 pam_channels: int = 64, softmax: bool = False) -> None:
        super().__init__()
        check_sam_mode(mode)
        self.mode = mode
        self.weight = float(weight)
        self.pam: Optional[PositionActivation] = (
            PositionActivation(in_channels, pam_channels, softmax) if mode == "separated_pam" else None
        )

    def alignment_loss(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Unweighted loss for maps ``(B, C, H, W)`` and identities ``(B,)``."""
        act = mutual_activation(x)  # (B, B, N): anchor, sample, position
        same = targets.view(-1, 1).eq(targets.view(1, -1))
        loss = act.new_zeros(())
        if self.mode in ("negatives", "unified", "separated", "separated_pam"):
            unit = F.normalize(act, dim=2, eps=1e-12)
            pair_dist = 1 - torch.bmm(unit, unit.transpose(1, 2))  # (B, B, B): anchor, j1, j2
            if self.mode == "unified":
                loss = loss + pair_dist.mean()
            else:
                diff = ~same
                loss = loss + _masked_mean(pair_dist, diff.unsqueeze(2) & diff.unsqueeze(1))
        if self.mode in ("positives", "separated", "separated_pam"):
            if self.pam is not None:
                target = self.pam(x)  # (B, N)
            else:
                target = torch.diagonal(act, dim1=0, dim2=1).t()  # a(i, i): (B, N)
            pos_dist = 1 - F.cosine_similarity(target.unsqueeze(1), act, dim=2, eps=1e-12)  # (B, B)
            loss = loss + _masked_mean(pos_dist, same)
        return loss

    def forward(self, outputs: Dict, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = outputs["backbone_features"]["final"]
        return {"loss_sam": self.weight * self.alignment_loss(x, targets)}


@LOSS_REGISTRY.register(name="SpatialAlignLoss")
def build_spatial_align_loss(cfg) -> SpatialAlignLoss:
    """Build the SAM loss from MODEL.SAM.*; the PAM width follows the backbone's final channels."""
    sam = cfg.MODEL.SAM
    in_channels = 0
    if sam.MODE == "separated_pam":
        from fastreid.modeling.backbones.build import build_backbone

        # Shapes come from the backbone itself; building it here must not shift the model's random init
        # nor load its ImageNet weights a second time.
        probe = cfg.clone()
        probe.defrost()
        probe.MODEL.BACKBONE.PRETRAIN = False
        with torch.random.fork_rng(devices=[]):
            in_channels = build_backbone(probe).out_channels["final"]
    return SpatialAlignLoss(in_channels, mode=sam.MODE, weight=sam.WEIGHT, pam_channels=int(sam.PAM_CHANNELS),
                            softmax=bool(sam.SOFTMAX))
