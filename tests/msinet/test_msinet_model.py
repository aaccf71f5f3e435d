"""MSINet backbone: outputs, gradients, parameter counts against the authors', genotype parsing."""

import pytest
import torch

from fastreid.modeling.backbones.build import build_backbone
from fastreid.modeling.meta_arch.build import build_model
from msinet.genotypes import NAMED_GENOTYPES, random_genotype, resolve_genotype, save_genotype
from msinet.msinet import MSINet
from msinet.neck import FBLNeck
from msinet.sam import SpatialAlignLoss

MSMT = ["gate", "gate", "exchange", "gate", "attention", "gate",
        "gate", "none", "gate", "attention", "exchange", "attention"]


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_msmt_genotype_is_the_papers_table_1():
    assert NAMED_GENOTYPES["msmt"] == MSMT
    assert resolve_genotype(None) == MSMT


def test_backbone_outputs_stage2_and_final_maps_at_a_sixteenth_of_the_input():
    torch.manual_seed(0)
    model = MSINet(MSMT).eval()
    out = model(torch.randn(2, 3, 64, 32))
    assert set(out) == {"stage2", "final"} == set(model.out_channels)
    assert out["stage2"].shape == (2, 384, 4, 2) and out["final"].shape == (2, 512, 4, 2)


def test_parameter_counts_equal_the_authors_at_751_classes():
    torch.manual_seed(0)
    backbone, neck, sam = MSINet(MSMT), FBLNeck(512, 384, 751), SpatialAlignLoss(512)
    classifiers = _count(neck.global_classifier) + _count(neck.part_classifier)
    without_cls = _count(backbone) + _count(neck) - classifiers
    assert without_cls == 2_328_035
    assert without_cls + _count(sam) == 2_393_699
    assert _count(backbone) + _count(neck) == 2_906_305
    assert _count(backbone) + _count(neck) + _count(sam) == 2_971_969


def test_interaction_modules_follow_the_genotype_cell_by_cell():
    model = MSINet(MSMT)
    cells = [model.stage1[0], model.stage1[1], model.stage2[0], model.stage2[1], model.stage3[0],
             model.stage3[1]]
    names = {"NoInteraction": "none", "Exchange": "exchange", "ChannelGate": "gate", "CrossAttention": "attention"}
    got = [names[type(m).__name__] for c in cells for m in c.interactions]
    assert got == MSMT


def test_full_model_train_step_gives_finite_losses_and_a_gradient_to_every_parameter(msinet_cfg):
    cfg = msinet_cfg
    cfg.MODEL.LOSSES.NAME = ("CrossEntropyLoss", "TripletLoss", "SpatialAlignLoss")
    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    # gamma of cross attention starts at 0; move it so that its own input path is exercised too.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.1)
    batch = {"images": torch.rand(4, 3, 64, 32) * 255, "targets": torch.tensor([0, 0, 1, 1])}
    losses = model(batch)
    assert {"loss_sam"} <= set(losses)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert bad == []
    model.eval()
    with torch.no_grad():
        feats = model(batch["images"])
    assert feats.shape == (4, 768)


def test_msinet_also_works_with_the_embedding_head(msinet_cfg):
    cfg = msinet_cfg
    cfg.MODEL.HEADS.NAME = "EmbeddingHead"
    model = build_model(cfg).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 32) * 255).shape == (2, 512)


@pytest.mark.parametrize("name", ["none", "exchange", "gate", "attention"])
def test_uniform_genotypes_use_one_op_everywhere(name):
    assert resolve_genotype(name) == [name] * 12


def test_random_genotype_is_reproducible_from_the_seed():
    a, b = resolve_genotype("random", seed=3), resolve_genotype("random", seed=3)
    assert a == b == random_genotype(3)
    assert any(resolve_genotype("random", seed=s) != a for s in range(4, 10))
    # pinned: "random" with a seed names the same architecture in every version (results refer to it)
    assert random_genotype(1) == ["exchange", "none", "gate", "none", "attention", "attention", "attention",
                                  "attention", "exchange", "none", "attention", "none"]


def test_explicit_list_and_genotype_file_both_work(tmp_path, msinet_cfg):
    ops = list(reversed(MSMT))
    assert resolve_genotype(ops) == ops
    path = tmp_path / "genotype.yaml"
    save_genotype(ops, str(path), comment="searched genotype")
    assert resolve_genotype(str(path)) == ops
    # the same file as the config value and as a _BASE_ of an experiment YAML
    msinet_cfg.MODEL.MSINET.GENOTYPE = str(path)
    assert build_backbone(msinet_cfg).genotype == ops
    exp = tmp_path / "exp.yml"
    exp.write_text("_BASE_: genotype.yaml\nMODEL:\n  BACKBONE:\n    NAME: msinet\n")
    from fastreid.config import get_cfg

    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(exp))
    assert build_backbone(cfg).genotype == ops


@pytest.mark.parametrize("value, match", [
    (["gate"] * 11, "expected 12 interaction ops.*valid ops: none, gate, attention, exchange"),
    (["gate"] * 11 + ["fly"], r"\[11\]: 'fly' is not an interaction op; expected one of none, gate, attention"),
    ("fancy", "'fancy' is neither a named genotype.*none, gate, attention, exchange"),
])
def test_bad_genotypes_fail_with_the_valid_ops(value, match):
    with pytest.raises(ValueError, match=match):
        resolve_genotype(value)


def test_fusion_and_scale_ratio_reach_every_cell(msinet_cfg):
    msinet_cfg.MODEL.MSINET.FUSION = "mul"
    msinet_cfg.MODEL.MSINET.SCALE_RATIO = [2, 2]
    model = build_backbone(msinet_cfg)
    cells = [c for s in (model.stage1, model.stage2, model.stage3) for c in s]
    assert all(c.fusion == "mul" and len(c.round1_a) == 2 and len(c.round2_b) == 2 for c in cells)
    msinet_cfg.MODEL.MSINET.FUSION = "max"
    with pytest.raises(ValueError, match="MODEL.MSINET.FUSION: 'max'"):
        build_backbone(msinet_cfg)


@pytest.mark.parametrize("fusion", ["sum", "minus", "mul"])
@pytest.mark.parametrize("in_channels", [16, 32])  # projected shortcut, identity shortcut
def test_a_fused_cell_computes_the_same_as_the_cell_it_came_from(fusion, in_channels):
    import copy

    import torch.nn as nn

    from fastreid.modeling.inference import fold_conv_bn
    from fastreid.utils.testing import assert_within_float32_rounding
    from msinet.cell import MSICell

    torch.manual_seed(0)
    cell = MSICell(in_channels, 32, ("gate", "exchange"), fusion=fusion)
    with torch.no_grad():  # non-trivial BN statistics and affine parameters, as a trained cell has
        for m in cell.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    cell.eval()
    assert not copy.deepcopy(cell).fuse_for_inference()  # BNs not folded: nothing changes
    fused = copy.deepcopy(cell)
    fold_conv_bn(fused)
    assert fused.fuse_for_inference() and fused.fused

    def convs(m):
        return sum(isinstance(c, nn.Conv2d) and c.kernel_size == (1, 1) and c.groups == 1 for c in m.modules())

    # reduce: 2 -> 1; for sum/minus expand (+ projected shortcut): 2 (3) -> 1
    saved = 1 + (0 if fusion == "mul" else 1 + (in_channels != 32))
    assert convs(fused) == convs(cell) - saved
    x = torch.randn(2, in_channels, 8, 4)
    with torch.no_grad():
        got = fused(x)
        got_cl = fused.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    for result in (got, got_cl):  # the unfused cell's exact (float64) output, up to float32 rounding
        assert_within_float32_rounding(result, lambda m: m(x.double()), cell)
