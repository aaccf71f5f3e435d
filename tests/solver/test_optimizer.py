"""build_optimizer: parameter groups, exclusions, optimizer kinds, clipping and layer freezing."""

import pytest
import torch
import torch.nn as nn

from fastreid.config import get_cfg
from fastreid.solver import build_optimizer


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.heads = nn.Linear(4, 2)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)
        self.alpha = nn.Parameter(torch.zeros(3))

    def arch_parameters(self):
        return [self.alpha]

    def forward(self, x):
        return self.heads(self.backbone(x).mean((2, 3)))


def _cfg(**solver):
    cfg = get_cfg(plugins=True)
    s = cfg.SOLVER
    s.BASE_LR, s.WEIGHT_DECAY, s.WEIGHT_DECAY_NORM, s.WEIGHT_DECAY_BIAS = 1.0, 0.1, 0.0, 0.01
    s.BIAS_LR_FACTOR, s.HEADS_LR_FACTOR = 2.0, 10.0
    for k, v in solver.items():
        s[k] = v
    return cfg


def _hyper(opt):
    return {n: (g["lr"], g["weight_decay"]) for g in opt.param_groups for n in g["names"]}


def test_groups_apply_bias_norm_and_heads_factors():
    got = _hyper(build_optimizer(_cfg(), Net()))
    assert got == {
        "backbone.0.weight": (1.0, 0.1),
        "backbone.0.bias": (2.0, 0.01),
        "backbone.1.weight": (1.0, 0.0),
        "backbone.1.bias": (2.0, 0.0),
        "heads.weight": (10.0, 0.1),
        "heads.bias": (20.0, 0.01),
    }


def test_frozen_and_architecture_parameters_are_excluded():
    net = Net()
    params = {id(p) for g in build_optimizer(_cfg(), net).param_groups for p in g["params"]}
    assert id(net.alpha) not in params
    assert id(net.frozen.weight) not in params and id(net.frozen.bias) not in params


@pytest.mark.parametrize("name,cls", [("SGD", torch.optim.SGD), ("Adam", torch.optim.Adam),
                                      ("AdamW", torch.optim.AdamW)])
def test_optimizer_kind_and_hyperparameters(name, cls):
    opt = build_optimizer(_cfg(OPT=name, MOMENTUM=0.8, NESTEROV=name == "SGD"), Net())
    assert isinstance(opt, cls)
    if name == "SGD":
        assert opt.defaults["momentum"] == 0.8 and opt.defaults["nesterov"]
    else:
        assert opt.defaults["betas"] == (0.8, 0.999)


def test_unknown_optimizer_is_rejected_with_choices():
    with pytest.raises(ValueError, match="SOLVER.OPT: 'Lamb'.*SGD, Adam, AdamW"):
        build_optimizer(_cfg(OPT="Lamb"), Net())


def test_gradient_norm_clipping_bounds_the_update():
    net = nn.Linear(4, 1, bias=False)
    nn.init.zeros_(net.weight)
    cfg = _cfg(OPT="SGD", MOMENTUM=0.0, WEIGHT_DECAY=0.0)
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED, cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = True, 0.5
    opt = build_optimizer(cfg, net)
    (net(torch.full((1, 4), 100.0)).sum()).backward()
    opt.step()
    assert net.weight.norm().item() == pytest.approx(0.5, rel=1e-5)


def test_freeze_layers_get_no_update_for_freeze_iters_then_train():
    net = Net()
    cfg = _cfg(OPT="SGD", FREEZE_ITERS=2)
    cfg.MODEL.FREEZE_LAYERS = ["backbone"]
    opt = build_optimizer(cfg, net)
    w0 = net.backbone[0].weight.clone()
    h0 = net.heads.weight.clone()
    x = torch.randn(2, 3, 5, 5)
    history = []
    for _ in range(3):
        opt.zero_grad()
        net(x).sum().backward()
        opt.step()
        history.append(torch.equal(net.backbone[0].weight, w0))
    assert history == [True, True, False]
    assert not torch.equal(net.heads.weight, h0)
    assert opt.state_dict()["num_steps"] == 3


def test_unknown_freeze_layer_is_rejected():
    cfg = _cfg(FREEZE_ITERS=2)
    cfg.MODEL.FREEZE_LAYERS = ["neck"]
    with pytest.raises(ValueError, match="MODEL.FREEZE_LAYERS: 'neck'.*backbone, heads, frozen"):
        build_optimizer(cfg, Net())
