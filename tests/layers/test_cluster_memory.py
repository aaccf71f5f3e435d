"""ClusterMemory: ClusterNCE logits and loss, momentum update, rebuild to another cluster count,
checkpoints across counts, class centroids, argument checks."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from fastreid.layers import ClusterMemory, class_centroids


def _memory(slots, **kwargs):
    mem = ClusterMemory(slots.shape[0], slots.shape[1], **kwargs)
    mem.initialize(slots)
    return mem


def test_logits_are_cosines_over_the_temperature():
    mem = _memory(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]), temperature=0.1)
    logits = mem.logits(torch.tensor([[3.0, 4.0], [0.0, -2.0]]))
    expected = torch.tensor([[0.6, 0.8, -0.6], [0.0, -1.0, 0.0]]) / 0.1
    torch.testing.assert_close(logits, expected)


def test_loss_is_the_mean_cross_entropy_of_the_logits():
    mem = _memory(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), temperature=0.5)
    feats, labels = torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([1, 0])
    c = 1 / math.sqrt(2)
    rows = [(torch.tensor([2.0, 0.0]), 1), (torch.tensor([2 * c, 2 * c]), 0)]
    expected = sum(torch.logsumexp(z, 0) - z[k] for z, k in rows) / 2
    torch.testing.assert_close(mem.loss(feats, labels), expected)


def test_zero_memory_gives_log_of_the_class_count():
    loss = ClusterMemory(7, 4).loss(torch.randn(3, 4), torch.tensor([0, 3, 6]))
    assert loss.item() == pytest.approx(math.log(7))


def test_gradients_reach_the_features_and_not_the_slots():
    mem = _memory(F.normalize(torch.randn(3, 4), dim=1))
    before = mem.slots.clone()
    feats = torch.randn(2, 4, requires_grad=True)
    mem.loss(feats, torch.tensor([0, 2])).backward()
    assert torch.equal(mem.slots, before) and not mem.slots.requires_grad
    assert feats.grad is not None and feats.grad.abs().sum() > 0


def test_update_moves_the_slot_toward_the_normalised_feature_and_renormalises():
    mem = _memory(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), momentum=0.2)
    mem.update(torch.tensor([[0.0, 5.0]]), torch.tensor([0]))
    torch.testing.assert_close(mem.slots[0], torch.tensor([0.2, 0.8]) / math.hypot(0.2, 0.8))
    torch.testing.assert_close(mem.slots[1], torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(mem.slots.norm(dim=1), torch.ones(2))


def test_a_class_seen_twice_in_a_batch_is_updated_twice_in_batch_order():
    mem = _memory(torch.tensor([[0.0, 1.0, 0.0]]), momentum=0.5)
    a, b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 2.0])
    mem.update(torch.stack([a, b]), torch.tensor([0, 0]))
    slot = 0.5 * torch.tensor([0.0, 1.0, 0.0]) + 0.5 * a
    slot = slot / slot.norm()
    slot = 0.5 * slot + 0.5 * F.normalize(b, dim=0)
    torch.testing.assert_close(mem.slots[0], slot / slot.norm())
    swapped = _memory(torch.tensor([[0.0, 1.0, 0.0]]), momentum=0.5)
    swapped.update(torch.stack([b, a]), torch.tensor([0, 0]))
    assert not torch.allclose(swapped.slots, mem.slots)  # order matters: it is sequential, not averaged


def test_zero_momentum_copies_the_last_feature():
    mem = ClusterMemory(2, 3, momentum=0.0)
    mem.update(torch.tensor([[3.0, 0.0, 4.0], [0.0, 2.0, 0.0]]), torch.tensor([1, 1]))
    torch.testing.assert_close(mem.slots, torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))


def test_initialize_normalises_and_reset_zeroes():
    mem = ClusterMemory(2, 2)
    mem.initialize(torch.tensor([[3.0, 4.0], [0.0, 0.5]]))
    torch.testing.assert_close(mem.slots, torch.tensor([[0.6, 0.8], [0.0, 1.0]]))
    mem.reset()
    assert mem.slots.shape == (2, 2) and mem.slots.abs().sum() == 0


def test_rebuild_changes_the_number_of_slots():
    mem = _memory(torch.eye(3, 4))
    mem.rebuild(torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0], [1.0, 1.0, 0.0, 0.0],
                              [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]))
    assert mem.num_classes == 5 and mem.slots.shape == (5, 4)
    assert mem.state_dict()["slots"].shape == (5, 4)
    torch.testing.assert_close(mem.slots.norm(dim=1), torch.ones(5))
    assert mem.logits(torch.randn(2, 4)).shape == (2, 5)
    mem.rebuild(torch.ones(1, 4))
    assert mem.num_classes == 1 and "num_classes=1" in repr(mem)


def test_rebuild_keeps_device_and_dtype_and_copies_the_input():
    mem = ClusterMemory(2, 3).double()
    centroids = torch.ones(4, 3)
    mem.rebuild(centroids)
    assert mem.slots.dtype == torch.float64 and mem.slots.device == torch.device("cpu")
    mem.update(torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([0]))
    assert torch.equal(centroids, torch.ones(4, 3))


def test_state_dict_round_trip_across_slot_counts():
    saved = _memory(F.normalize(torch.randn(6, 4), dim=1))
    fresh = ClusterMemory(2, 4)
    fresh.load_state_dict(saved.state_dict())
    assert fresh.num_classes == 6 and torch.equal(fresh.slots, saved.slots)
    smaller = _memory(torch.eye(2, 4))
    fresh.load_state_dict(smaller.state_dict())
    assert fresh.num_classes == 2 and torch.equal(fresh.slots, smaller.slots)


def test_a_memory_inside_a_module_loads_another_slot_count():
    class Net(nn.Module):
        def __init__(self, classes):
            super().__init__()
            self.memory = ClusterMemory(classes, 3)

    saved = Net(5)
    saved.memory.rebuild(torch.rand(5, 3) + 0.1)
    fresh = Net(2)
    fresh.load_state_dict(saved.state_dict())
    assert torch.equal(fresh.memory.slots, saved.memory.slots)


def test_a_memory_of_fixed_size_refuses_another_slot_count():
    class FixedMemory(ClusterMemory):
        resize_on_load = False

    with pytest.raises(RuntimeError, match="size mismatch for slots"):
        FixedMemory(2, 4).load_state_dict(ClusterMemory(3, 4).state_dict())


def test_a_checkpoint_of_another_feature_size_is_refused():
    with pytest.raises(RuntimeError, match="size mismatch for slots"):
        ClusterMemory(2, 4).load_state_dict(ClusterMemory(3, 5).state_dict())


def test_centroids_of_a_toy_set():
    feats = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0], [5.0, 0.0]])
    labels = torch.tensor([0, 0, 2, 0])
    cents = class_centroids(feats, labels, 4)
    mean0 = torch.tensor([2.0, 1.0]) / 3  # unit rows (1,0), (0,1), (1,0)
    torch.testing.assert_close(cents[0], mean0 / mean0.norm())
    torch.testing.assert_close(cents[2], torch.tensor([1.0, 1.0]) / math.sqrt(2))
    assert torch.equal(cents[1], torch.zeros(2)) and torch.equal(cents[3], torch.zeros(2))


def test_rebuild_from_centroids_warns_about_empty_classes(caplog):
    mem = ClusterMemory(1, 2)
    with caplog.at_level("WARNING", logger="fastreid.layers.cluster_memory"):
        mem.rebuild(class_centroids(torch.tensor([[1.0, 0.0]]), torch.tensor([2]), 3))
    assert "2 of 3 classes have no samples" in caplog.text


@pytest.mark.parametrize("kwargs, message", [
    ({"num_classes": 0}, "num_classes: 0 is not a positive class count"),
    ({"feat_dim": 0}, "feat_dim: 0 is not a positive feature size"),
    ({"temperature": 0.0}, "temperature: 0.0 must be > 0"),
    ({"momentum": 1.0}, r"momentum: 1.0 must lie in \[0, 1\)"),
    ({"momentum": -0.1}, r"momentum: -0.1 must lie in \[0, 1\)"),
])
def test_bad_constructor_arguments_are_one_line_errors(kwargs, message):
    args = {"num_classes": 2, "feat_dim": 4, **kwargs}
    with pytest.raises(ValueError, match=f"^ClusterMemory {message}$"):
        ClusterMemory(**args)


def test_bad_centroids_are_one_line_errors():
    mem = ClusterMemory(2, 4)
    with pytest.raises(ValueError, match=r"initialize: centroids of shape \(3, 4\), expected \(2, 4\)"):
        mem.initialize(torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"rebuild: centroids of shape \(0, 4\), expected \(C >= 1, 4\)"):
        mem.rebuild(torch.zeros(0, 4))
    with pytest.raises(ValueError, match=r"rebuild: centroids of shape \(3, 5\)"):
        mem.rebuild(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"rebuild: centroids of shape \(4,\)"):
        mem.rebuild(torch.zeros(4))
    assert mem.slots.shape == (2, 4)


@pytest.mark.parametrize("feats, labels, classes, message", [
    (torch.zeros(3), torch.zeros(3), 2, r"features: shape \(3,\); expected \(N, D\)"),
    (torch.zeros(3, 2), torch.zeros(2), 2, r"targets: shape \(2,\); expected \(3,\)"),
    (torch.zeros(3, 2), torch.zeros(3), 0, "num_classes: 0; expected a positive class count"),
    (torch.zeros(2, 2), torch.tensor([0, 2]), 2, r"labels span \[0, 2\]; expected \[0, 2\)"),
    (torch.zeros(2, 2), torch.tensor([-1, 1]), 2, r"labels span \[-1, 1\]"),
])
def test_bad_centroid_arguments_are_one_line_errors(feats, labels, classes, message):
    with pytest.raises(ValueError, match=message):
        class_centroids(feats, labels, classes)
