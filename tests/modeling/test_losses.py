"""Loss values on hand-checked tiny cases, gradients, and registry behaviour."""

import math

import numpy as np
import pytest
import torch

from fastreid.modeling.losses import LOSS_REGISTRY, CrossEntropyLoss, TripletLoss, build_losses
from fastreid.modeling.losses.functional import (
    cosine_dist,
    cross_entropy_loss,
    euclidean_dist,
    triplet_loss,
)
from fastreid.utils.registry import UnknownNameError


def _np_log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_cross_entropy_without_smoothing_matches_hand_value():
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    expected = -math.log(math.exp(2) / (math.exp(2) + math.exp(1) + 1.0))
    assert cross_entropy_loss(logits, torch.tensor([0])).item() == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_label_smoothing_matches_smoothed_target_distribution():
    logits = np.array([[2.0, 1.0, 0.0, -1.0], [0.5, 0.0, 3.0, 1.0]])
    targets = np.array([1, 2])
    eps, k = 0.1, 4
    q = np.full((2, k), eps / k)
    q[np.arange(2), targets] += 1 - eps
    expected = -(q * _np_log_softmax(logits)).sum(1).mean()
    got = cross_entropy_loss(torch.tensor(logits, dtype=torch.float32), torch.tensor(targets), epsilon=eps)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_cross_entropy_rejects_epsilon_out_of_range():
    with pytest.raises(ValueError, match="EPSILON"):
        cross_entropy_loss(torch.zeros(1, 3), torch.tensor([0]), epsilon=1.0)


def test_cross_entropy_module_sums_branches_and_applies_scale():
    a, b = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    t = torch.tensor([0])
    expected = 0.5 * (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(1)))
    out = CrossEntropyLoss(epsilon=0.0, scale=0.5)({"logits": {"global": a, "part": b}}, t)
    assert list(out) == ["loss_cls"]
    assert out["loss_cls"].item() == pytest.approx(expected, rel=1e-6)


# 1-d features; identities 0, 0, 1, 1. Per anchor (d_ap, d_an) by hand: (2, 3), (2, 1), (3, 1), (3, 4).
_X = torch.tensor([[0.0], [2.0], [3.0], [6.0]])
_T = torch.tensor([0, 0, 1, 1])
_DIFFS = [2 - 3, 2 - 1, 3 - 1, 3 - 4]


def test_batch_hard_triplet_with_margin_matches_hand_value():
    expected = sum(max(d + 0.3, 0.0) for d in _DIFFS) / 4  # = (0 + 1.3 + 2.3 + 0) / 4
    assert expected == pytest.approx(0.9)
    assert triplet_loss(_X, _T, margin=0.3).item() == pytest.approx(expected, abs=1e-5)


def test_batch_hard_triplet_soft_margin_when_margin_is_zero():
    expected = sum(math.log1p(math.exp(d)) for d in _DIFFS) / 4
    assert triplet_loss(_X, _T, margin=0.0).item() == pytest.approx(expected, abs=1e-5)


def _reference_triplet(x, t, margin, dist):
    """Loop-per-anchor batch-hard reference."""
    losses = []
    for i in range(len(t)):
        pos = [dist(x[i], x[j]) for j in range(len(t)) if j != i and t[j] == t[i]]
        neg = [dist(x[i], x[j]) for j in range(len(t)) if t[j] != t[i]]
        losses.append(max(max(pos, default=0.0) - min(neg) + margin, 0.0))
    return float(np.mean(losses))


def test_batch_hard_triplet_cosine_metric_with_normalised_features_matches_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5))
    t = np.array([0, 0, 0, 1, 1, 2])  # identity 2 has no other positive: d_ap = 0

    def cos_d(a, b):
        return 1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))

    expected = _reference_triplet(x, t, 0.3, cos_d)
    got = triplet_loss(torch.tensor(x, dtype=torch.float32), torch.tensor(t), margin=0.3, norm_feat=True,
                       metric="cosine")
    assert got.item() == pytest.approx(expected, abs=1e-5)


def test_norm_feat_euclidean_equals_sqrt_of_two_minus_two_cos():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 4))
    t = np.array([0, 0, 1, 1, 2, 2])
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    expected = _reference_triplet(xn, t, 0.3, lambda a, b: float(np.linalg.norm(a - b)))
    got = triplet_loss(torch.tensor(x, dtype=torch.float32), torch.tensor(t), margin=0.3, norm_feat=True)
    assert got.item() == pytest.approx(expected, abs=1e-5)


def test_softmax_weighted_triplet_matches_hand_value():
    # two positives per anchor at most: weights softmax(d_pos); negatives softmax(-d_neg)
    x = torch.tensor([[0.0], [1.0], [3.0], [4.0]])
    t = torch.tensor([0, 0, 1, 1])
    d = np.abs(x.numpy() - x.numpy().T)
    losses = []
    for i in range(4):
        pos = [d[i, j] for j in range(4) if j != i and t[j] == t[i]]
        neg = np.array([d[i, j] for j in range(4) if t[j] != t[i]])
        w = np.exp(-neg) / np.exp(-neg).sum()
        losses.append(max(pos[0] - (w * neg).sum() + 0.3, 0.0))
    got = triplet_loss(x, t, margin=0.3, hard_mining=False)
    assert got.item() == pytest.approx(float(np.mean(losses)), abs=1e-5)


def test_triplet_without_negatives_is_zero_and_backward_works():
    x = torch.randn(3, 4, requires_grad=True)
    loss = triplet_loss(x, torch.tensor([1, 1, 1]))
    loss.backward()
    assert loss.item() == 0.0 and x.grad is not None


def test_triplet_gradients_are_finite_for_both_mining_modes_with_duplicate_features():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 2.0]], requires_grad=True)
    for hard in (True, False):
        x.grad = None
        triplet_loss(x, torch.tensor([0, 0, 1, 2]), margin=0.3, hard_mining=hard).backward()
        assert torch.isfinite(x.grad).all()


def test_triplet_module_sums_branches_and_scales():
    m = TripletLoss(margin=0.3, scale=2.0)
    out = m({"features": {"global": _X, "part": _X}}, _T)
    assert out["loss_triplet"].item() == pytest.approx(2.0 * 2 * 0.9, abs=1e-5)


def test_distances_match_numpy():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(5, 4))
    eu = np.linalg.norm(a[:, None] - b[None], axis=2)
    co = 1 - (a @ b.T) / np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))
    ta, tb = torch.tensor(a), torch.tensor(b)
    np.testing.assert_allclose(euclidean_dist(ta, tb).numpy(), eu, atol=1e-6)
    np.testing.assert_allclose(cosine_dist(ta, tb).numpy(), co, atol=1e-6)


def test_build_losses_rejects_unknown_name_listing_registered_ones(cfg):
    cfg.MODEL.LOSSES.NAME = ("CrossEntropyLoss", "TripletLos")
    with pytest.raises(UnknownNameError) as err:
        build_losses(cfg)
    msg = str(err.value)
    assert "TripletLos" in msg and "CrossEntropyLoss" in msg and "TripletLoss" in msg


def test_build_losses_reads_weights_from_config(cfg):
    cfg.MODEL.LOSSES.CE.EPSILON, cfg.MODEL.LOSSES.CE.SCALE = 0.1, 0.7
    cfg.MODEL.LOSSES.TRI.MARGIN, cfg.MODEL.LOSSES.TRI.METRIC = 0.0, "cosine"
    losses = build_losses(cfg)
    assert list(losses) == ["CrossEntropyLoss", "TripletLoss"]
    assert (losses["CrossEntropyLoss"].epsilon, losses["CrossEntropyLoss"].scale) == (0.1, 0.7)
    assert (losses["TripletLoss"].margin, losses["TripletLoss"].metric) == (0.0, "cosine")
    assert {"CrossEntropyLoss", "TripletLoss"} <= set(LOSS_REGISTRY.names())


def test_triplet_rejects_unknown_metric():
    with pytest.raises(ValueError, match="METRIC.*euclidean, cosine"):
        TripletLoss(metric="manhattan")
