"""TwinMemory: centroid initialisation, contrastive loss (Eq. 2) and momentum update (Eq. 3)."""

import math

import pytest
import torch
import torch.nn.functional as F

from msinet.memory import TwinMemory, class_centroids

torch.set_num_threads(1)


def test_initialize_from_centroids_equals_normalised_class_means():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(10, 6, generator=g)
    labels = torch.tensor([0, 0, 1, 2, 2, 2, 1, 0, 3, 3])
    mem = TwinMemory(4, 6)
    mem.initialize(class_centroids(feats, labels, 4))
    unit = feats / feats.norm(dim=1, keepdim=True)
    for c in range(4):
        mean = unit[labels == c].mean(dim=0)
        torch.testing.assert_close(mem.slots[c], mean / mean.norm())


def test_class_without_samples_keeps_a_zero_slot():
    feats = torch.randn(3, 4)
    cents = class_centroids(feats, torch.tensor([0, 0, 2]), 3)
    assert torch.equal(cents[1], torch.zeros(4))


def test_loss_is_cross_entropy_of_cosine_over_temperature():
    mem = TwinMemory(3, 2, temperature=0.05)
    mem.initialize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    feat = torch.tensor([[3.0, 4.0]])  # unit vector (0.6, 0.8)
    logits = torch.tensor([0.6, 0.8, -0.6]) / 0.05
    expected = -(logits[1] - torch.logsumexp(logits, 0))
    torch.testing.assert_close(mem.loss(feat, torch.tensor([1])), expected)


def test_zero_memory_gives_log_k_loss():
    mem = TwinMemory(5, 8)
    loss = mem.loss(torch.randn(4, 8), torch.tensor([0, 1, 2, 3]))
    assert loss.item() == pytest.approx(math.log(5))


def test_momentum_update_moves_slot_and_renormalises():
    mem = TwinMemory(2, 2, momentum=0.2)
    mem.initialize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    mem.update(torch.tensor([[0.0, 2.0]]), torch.tensor([0]))
    expected = torch.tensor([0.2, 0.8]) / math.hypot(0.2, 0.8)
    torch.testing.assert_close(mem.slots[0], expected)
    torch.testing.assert_close(mem.slots[1], torch.tensor([0.0, 1.0]))  # untouched class


def test_repeated_class_in_a_batch_is_updated_sequentially():
    mem = TwinMemory(1, 3, momentum=0.2)
    a, b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 1.0])
    mem.update(torch.stack([a, b]), torch.tensor([0, 0]))
    s = 0.8 * a
    s = s / s.norm()
    s = 0.2 * s + 0.8 * b
    torch.testing.assert_close(mem.slots[0], s / s.norm())


def test_loss_does_not_touch_slots_and_grads_reach_features():
    mem = TwinMemory(3, 4)
    mem.initialize(F.normalize(torch.randn(3, 4), dim=1))
    before = mem.slots.clone()
    feats = torch.randn(2, 4, requires_grad=True)
    mem.loss(feats, torch.tensor([0, 2])).backward()
    assert torch.equal(mem.slots, before)
    assert feats.grad is not None and feats.grad.abs().sum() > 0


def test_slots_are_saved_in_state_dict():
    mem = TwinMemory(3, 4)
    mem.initialize(torch.eye(3, 4))
    other = TwinMemory(3, 4)
    other.load_state_dict(mem.state_dict())
    assert torch.equal(other.slots, mem.slots)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="num_classes"):
        TwinMemory(0, 4)
    with pytest.raises(ValueError, match="expected"):
        TwinMemory(2, 4).initialize(torch.zeros(3, 4))
