"""Baseline meta-architecture: input handling, eval features, loss merging, gradients, logging."""

import pytest
import torch

import fastreid.modeling.meta_arch.baseline as baseline_module
from fastreid.modeling import build_model
from fastreid.modeling.losses import LOSS_REGISTRY


@pytest.mark.parametrize("backbone", ["resnet50", "osnet"])
def test_every_trainable_parameter_gets_a_finite_gradient(cfg, batch, backbone):
    cfg.MODEL.BACKBONE.NAME = backbone
    cfg.MODEL.HEADS.POOL_LAYER = "gem"
    model = build_model(cfg).train()
    losses = model(batch)
    assert set(losses) == {"loss_cls", "loss_triplet"}
    sum(losses.values()).backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert no_grad == []
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_forward_never_modifies_the_callers_tensors(cfg, batch):
    model = build_model(cfg)
    images, targets = batch["images"].clone(), batch["targets"].clone()
    model.train()(batch)
    model.eval()(batch["images"])
    assert torch.equal(batch["images"], images) and torch.equal(batch["targets"], targets)


def test_eval_returns_features_for_dict_or_bare_tensor(cfg, batch):
    cfg.MODEL.BACKBONE.NAME = "osnet"
    cfg.MODEL.HEADS.EMBEDDING_DIM = 16
    model = build_model(cfg).eval()
    with torch.no_grad():
        a = model(batch["images"])
        b = model({"images": batch["images"].to(torch.uint8).float()})
    assert a.shape == (8, 16) and b.shape == (8, 16)


def test_normalisation_uses_pixel_mean_and_std(cfg):
    model = build_model(cfg)
    x = torch.full((1, 3, 2, 2), 255.0)
    expected = (255.0 - torch.tensor(cfg.MODEL.PIXEL_MEAN)) / torch.tensor(cfg.MODEL.PIXEL_STD)
    torch.testing.assert_close(model.preprocess_image(x)[0, :, 0, 0], expected)
    assert "pixel_mean" not in model.state_dict()


def test_training_without_targets_is_a_clear_error(cfg, batch):
    model = build_model(cfg).train()
    with pytest.raises(ValueError, match="targets"):
        model(batch["images"])


def test_two_losses_returning_the_same_term_is_an_error(cfg, batch):
    @LOSS_REGISTRY.register(name="_DuplicateClsForTest")
    def _dup(cfg):
        return _DupLoss()

    cfg.MODEL.LOSSES.NAME = ("CrossEntropyLoss", "_DuplicateClsForTest")
    try:
        model = build_model(cfg).train()
        with pytest.raises(KeyError, match="loss_cls.*CrossEntropyLoss.*_DuplicateClsForTest"):
            model(batch)
    finally:
        LOSS_REGISTRY.unregister("_DuplicateClsForTest")


class _DupLoss(torch.nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, outputs, targets):
        return {"loss_cls": outputs["features"]["global"].sum() * 0}


def test_accuracy_is_logged_to_the_current_storage(cfg, batch, monkeypatch):
    logged = {}

    class _Storage:
        def put_scalar(self, name, value):
            logged[name] = value

    monkeypatch.setattr(baseline_module, "current_storage", lambda: _Storage())
    model = build_model(cfg).train()
    model(batch)
    assert 0.0 <= logged["cls_accuracy"] <= 1.0


def test_unknown_meta_architecture_lists_registered_ones(cfg):
    cfg.MODEL.META_ARCHITECTURE = "Basline"
    with pytest.raises(KeyError, match="Baseline"):
        build_model(cfg)
