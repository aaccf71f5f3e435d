"""MSI supernet: mixed interaction modules, alpha handling, width rule and the fixed-network match."""

import pytest
import torch
import torch.nn.functional as F

from fastreid.config import get_cfg
from fastreid.utils.testing import assert_within_float32_rounding
from msinet.config import add_msinet_config
from msinet.interaction import OP_NAMES
from msinet.msinet import MSINet
from msinet.search_model import build_search_baseline
from msinet.supernet import MixedInteraction, MSISupernet, derive_state_dict

torch.set_num_threads(1)


def _activate_attention(module):
    # gamma starts at 0, which would make "attention" equal to "none"; make the options distinct
    for name, p in module.named_parameters():
        if name.endswith("gamma"):
            p.data.fill_(0.5)


def test_mixed_interaction_is_softmax_weighted_sum_of_its_four_ops():
    torch.manual_seed(0)
    im = MixedInteraction(16)
    im.alpha.data = torch.tensor([[0.3, -1.0, 2.0, 0.5]])
    _activate_attention(im)
    x1, x2 = torch.randn(2, 16, 4, 2), torch.randn(2, 16, 4, 2)
    y1, y2 = im(x1, x2)
    w = torch.softmax(torch.tensor([0.3, -1.0, 2.0, 0.5]), 0)
    exp1, exp2 = torch.zeros_like(x1), torch.zeros_like(x2)
    for k, op in enumerate(im.ops):
        o1, o2 = op(x1, x2)
        exp1 += w[k] * o1
        exp2 += w[k] * o2
    torch.testing.assert_close(y1, exp1)
    torch.testing.assert_close(y2, exp2)
    # the exchange column really swaps: a one-hot "exchange" weight returns (x2, x1)
    z1, z2 = im(x1, x2, weights=torch.tensor([0.0, 0.0, 0.0, 1.0]))
    torch.testing.assert_close((z1, z2), (x2, x1))


def test_supernet_ims_read_their_own_alpha_row():
    torch.manual_seed(0)
    net = MSISupernet(channels=(8, 32, 48, 64))
    net.alpha.data = torch.randn(12, 4)
    ims = net.mixed_interactions()
    assert [m.index for m in ims] == list(range(12))
    for i, m in enumerate(ims):
        torch.testing.assert_close(m.weights(), torch.softmax(net.alpha[i], 0))
    assert OP_NAMES == ("none", "gate", "attention", "exchange")


def test_alpha_is_one_parameter_saved_once_and_kept_out_of_weights():
    torch.manual_seed(0)
    net = MSISupernet(channels=(8, 32, 48, 64))
    assert net.arch_parameters() == [net.alpha] and net.alpha.shape == (12, 4)
    assert 0 < net.alpha.std().item() < 1e-2  # 1e-3 * N(0, 1)
    assert [k for k in net.state_dict() if "alpha" in k] == ["alpha"]
    assert all(p is not net.alpha for p in net.weight_parameters())
    net.double()  # conversions keep the IMs pointed at the supernet's alpha
    assert all(m._alpha_ref[0] is net.alpha for m in net.mixed_interactions())


def test_genotype_is_argmax_per_interaction_module():
    net = MSISupernet(channels=(8, 32, 48, 64))
    picks = [0, 1, 2, 3, 3, 2, 1, 0, 1, 1, 2, 3]
    net.alpha.data = F.one_hot(torch.tensor(picks), 4).float()
    assert net.genotype() == [OP_NAMES[i] for i in picks]


@pytest.mark.parametrize("train_mode", [True, False])
def test_one_hot_alpha_supernet_equals_fixed_msinet_of_that_genotype(train_mode):
    torch.manual_seed(0)
    genotype = ["gate", "gate", "exchange", "gate", "attention", "gate",
                "gate", "none", "gate", "attention", "exchange", "attention"]
    channels = (16, 32, 48, 64)
    net = MSISupernet(channels=channels, mid_rule="out")  # MSINet's width: C_out / 4
    _activate_attention(net)
    net.alpha.data = 1e4 * F.one_hot(torch.tensor([OP_NAMES.index(g) for g in genotype]), 4).float()
    fixed = MSINet(genotype, channels=channels)
    fixed.load_state_dict(derive_state_dict(net.state_dict(), genotype), strict=True)
    net.train(train_mode)
    fixed.train(train_mode)
    x = torch.randn(2, 3, 64, 32)
    out_s, out_f = net(x), fixed(x)
    assert set(out_s) == set(out_f) == {"stage2", "final"}
    for out in (out_s, out_f):  # both the fixed network's exact (float64) maps, up to float32 rounding
        assert_within_float32_rounding({k: v.detach() for k, v in out.items()}, lambda m: m(x.double()), fixed)


def test_every_parameter_gets_a_gradient_without_nan():
    torch.manual_seed(0)
    net = MSISupernet(channels=(8, 32, 48, 64))
    _activate_attention(net)
    out = net(torch.randn(2, 3, 64, 32))["final"]
    out.pow(2).mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert net.alpha.grad.abs().sum() > 0


def _search_cfg(**overrides):
    cfg = get_cfg(plugins=True)
    add_msinet_config(cfg)
    cfg.MODEL.META_ARCHITECTURE = "SearchBaseline"
    cfg.MODEL.BACKBONE.NAME = "msinet_supernet"
    cfg.MODEL.DEVICE = "cpu"
    cfg.merge_from_list([item for pair in overrides.items() for item in pair])
    return cfg


def test_authors_width_rule_gives_1687590_weights_without_classifier():
    model = build_search_baseline(_search_cfg())
    arch = {id(p) for p in model.arch_parameters()}
    weights = sum(p.numel() for p in model.parameters() if id(p) not in arch)
    assert weights == 1_687_590
    assert model.heads.classifier is None
    out = _search_cfg(**{"SEARCH.MID_RULE": "out"})
    model_out = build_search_baseline(out)
    assert sum(p.numel() for p in model_out.parameters()) > weights + 48


def test_softmax_scheme_adds_a_bias_free_classifier_of_the_authors_size():
    cfg = _search_cfg(**{"SEARCH.SCHEME": "softmax", "MODEL.HEADS.NUM_CLASSES": 751})
    model = build_search_baseline(cfg)
    arch = {id(p) for p in model.arch_parameters()}
    assert sum(p.numel() for p in model.parameters() if id(p) not in arch) == 2_072_102
    model.train()
    out = model({"images": torch.rand(2, 3, 64, 32) * 255})
    assert out["features"].shape == (2, 512) and out["logits"].shape == (2, 751)


def test_search_baseline_does_not_modify_the_callers_images():
    model = build_search_baseline(_search_cfg(**{"MODEL.MSINET.CHANNELS": [8, 32, 48, 64]})).eval()
    images = torch.rand(2, 3, 64, 32) * 255
    before = images.clone()
    feats = model(images)
    assert torch.equal(images, before) and feats.shape == (2, 64)


def test_bad_width_rule_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="in, out"):
        MSISupernet(mid_rule="half")
