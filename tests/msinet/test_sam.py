"""Spatial Alignment Module: Mutual Conv against a loop, hand-checkable loss values for each mode."""

import pytest
import torch

from msinet.sam import SAM_MODES, PositionActivation, SpatialAlignLoss, mutual_activation

TARGETS = torch.tensor([0, 0, 1, 1, 2, 2])


def _maps(seed=0, b=6, c=8, h=4, w=2):
    return torch.randn(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_mutual_activation_matches_a_direct_loop():
    x = _maps(b=3)
    act = mutual_activation(x)
    flat = x.flatten(2)  # (B, C, N)
    for i in range(3):
        for j in range(3):
            corr = flat[i].t() @ flat[j]  # (N_i, N_j)
            torch.testing.assert_close(act[i, j], corr.max(dim=0).values)


def test_pam_is_the_max_over_key_positions_and_the_softmax_variant_is_in_0_1():
    torch.manual_seed(0)
    x = _maps()
    pam = PositionActivation(8, 4)
    q, k = pam.query(x).flatten(2), pam.key(x).flatten(2)
    torch.testing.assert_close(pam(x), (q.transpose(1, 2) @ k).max(dim=-1).values)
    pam.softmax = True
    out = pam(x)
    assert out.shape == (6, 8) and (out > 0).all() and (out <= 1).all()


@pytest.mark.parametrize("mode", [m for m in SAM_MODES if m != "separated_pam"])
def test_loss_is_zero_when_every_map_is_identical(mode):
    # the PAM target is learned, so only the parameter-free modes must vanish here
    x = _maps(b=1).expand(6, -1, -1, -1).contiguous()
    loss = SpatialAlignLoss(8, mode=mode, pam_channels=4)
    assert loss.alignment_loss(x, TARGETS).abs() < 1e-5


def test_positive_mode_is_the_mean_cosine_distance_to_the_self_activation():
    x = _maps()
    act = mutual_activation(x)
    expected = []
    for i in range(6):
        for p in range(6):
            if TARGETS[i] == TARGETS[p]:
                expected.append(1 - torch.cosine_similarity(act[i, i], act[i, p], dim=0))
    loss = SpatialAlignLoss(8, mode="positives")
    torch.testing.assert_close(loss.alignment_loss(x, TARGETS), torch.stack(expected).mean())


def test_negative_and_unified_modes_average_pairwise_cosine_distances():
    x = _maps()
    act = mutual_activation(x)
    neg, every = [], []
    for i in range(6):
        for a in range(6):
            for b in range(6):
                d = 1 - torch.cosine_similarity(act[i, a], act[i, b], dim=0)
                every.append(d)
                if TARGETS[a] != TARGETS[i] and TARGETS[b] != TARGETS[i]:
                    neg.append(d)
    torch.testing.assert_close(SpatialAlignLoss(8, mode="negatives").alignment_loss(x, TARGETS),
                               torch.stack(neg).mean())
    torch.testing.assert_close(SpatialAlignLoss(8, mode="unified").alignment_loss(x, TARGETS),
                               torch.stack(every).mean())


def test_separated_is_positives_plus_negatives_and_pam_changes_only_the_positive_target():
    x = _maps()
    parts = {m: SpatialAlignLoss(8, mode=m).alignment_loss(x, TARGETS) for m in ("positives", "negatives")}
    torch.testing.assert_close(SpatialAlignLoss(8, mode="separated").alignment_loss(x, TARGETS),
                               parts["positives"] + parts["negatives"])
    torch.manual_seed(0)
    sam = SpatialAlignLoss(8, mode="separated_pam", pam_channels=4)
    target = sam.pam(x)
    act = mutual_activation(x)
    same = TARGETS.view(-1, 1) == TARGETS.view(1, -1)
    pos = (1 - torch.cosine_similarity(target.unsqueeze(1), act, dim=2))[same].mean()
    torch.testing.assert_close(sam.alignment_loss(x, TARGETS), pos + parts["negatives"])


def test_forward_is_weighted_reads_the_final_map_and_follows_its_size():
    sam = SpatialAlignLoss(8, mode="separated", weight=2.0)
    for h, w in ((4, 2), (4, 4)):
        x = _maps(h=h, w=w)
        out = sam({"backbone_features": {"final": x}}, TARGETS)
        torch.testing.assert_close(out["loss_sam"], 2.0 * sam.alignment_loss(x, TARGETS))


def test_only_the_pam_mode_owns_parameters_and_a_batch_of_one_identity_is_finite():
    assert sum(p.numel() for p in SpatialAlignLoss(512).parameters()) == 2 * (512 * 64 + 64)
    assert all(len(list(SpatialAlignLoss(512, mode=m).parameters())) == 0 for m in SAM_MODES[:-1])
    x = _maps(b=2).requires_grad_()
    value = SpatialAlignLoss(8, mode="separated").alignment_loss(x, torch.tensor([3, 3]))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()


def test_unknown_mode_is_rejected_with_the_valid_modes():
    with pytest.raises(ValueError, match="MODEL.SAM.MODE: 'both'; expected one of positives, negatives"):
        SpatialAlignLoss(8, mode="both")
