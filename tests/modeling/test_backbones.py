"""Backbone output shapes, parameter counts, last stride and local-weight loading."""

import pytest
import torch
from torchvision.models import resnet50

from fastreid.modeling.backbones import BACKBONE_REGISTRY, OSNet, ResNet50, build_backbone
from fastreid.modeling.backbones.pretrain import load_pretrained_weights


def _n_params(m):
    return sum(p.numel() for p in m.parameters())


def _osnet_param_count_from_paper(channels=(64, 256, 384, 512)):
    """OSNet x1.0 size from the architecture description (conv + BN counted by hand)."""
    def conv_bn(i, o, k=1):
        return i * o * k * k + 2 * o

    def lite(c):  # 1x1 conv, depth-wise 3x3, BN
        return c * c + 9 * c + 2 * c

    def gate(c):
        h = c // 16
        return c * h + h + h * c + c

    def block(i, o):
        mid = o // 4
        n = conv_bn(i, mid) + (1 + 2 + 3 + 4) * lite(mid) + gate(mid) + conv_bn(mid, o)
        return n + (conv_bn(i, o) if i != o else 0)

    stem = conv_bn(3, channels[0], 7)
    stages = 0
    for s in range(3):
        i, o = channels[s], channels[s + 1]
        stages += block(i, o) + block(o, o) + (conv_bn(o, o) if s < 2 else 0)
    return stem + stages + conv_bn(channels[3], channels[3])


def test_resnet50_has_torchvision_parameter_count_without_fc():
    assert _n_params(ResNet50()) == 23_508_032


def test_osnet_parameter_count_matches_architecture_and_paper():
    backbone = OSNet()
    assert _n_params(backbone) == _osnet_param_count_from_paper()
    # The reference OSNet x1.0 (2.17 M without classifier, quoted to 3 significant figures, so +-5 k)
    # ends with a 512 -> 512 fc + BN1d, which this toolbox puts in the head (EMBEDDING_DIM 512 + BNNeck).
    with_fc = _n_params(backbone) + 512 * 512 + 2 * 512
    assert abs(with_fc - 2_170_000) <= 5_000


@pytest.mark.parametrize("last_stride,final_hw", [(1, (4, 2)), (2, (2, 1))])
def test_resnet50_shapes_and_last_stride(cfg, last_stride, final_hw):
    cfg.MODEL.BACKBONE.LAST_STRIDE = last_stride
    model = build_backbone(cfg).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 32))
    expected = {"layer1": (256, 16, 8), "layer2": (512, 8, 4), "layer3": (1024, 4, 2),
                "layer4": (2048, *final_hw), "final": (2048, *final_hw)}
    assert {k: tuple(v.shape[1:]) for k, v in out.items()} == expected
    assert model.out_channels == {k: v[0] for k, v in expected.items()}


def test_osnet_shapes_and_stage2_map_at_256x128(cfg):
    cfg.MODEL.BACKBONE.NAME = "osnet"
    model = build_backbone(cfg).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 256, 128))
    expected = {"stage1": (256, 32, 16), "stage2": (384, 16, 8), "stage3": (512, 16, 8), "final": (512, 16, 8)}
    assert {k: tuple(v.shape[1:]) for k, v in out.items()} == expected
    assert model.out_channels == {k: v[0] for k, v in expected.items()}


def test_unknown_backbone_name_lists_registered_ones(cfg):
    cfg.MODEL.BACKBONE.NAME = "resnet5O"
    with pytest.raises(KeyError) as err:
        build_backbone(cfg)
    assert "osnet" in str(err.value) and "resnet50" in str(err.value)
    assert BACKBONE_REGISTRY.get("ResNet50") is BACKBONE_REGISTRY.get("resnet50")


def test_resnet50_loads_a_local_torchvision_checkpoint(cfg, tmp_path, caplog):
    reference = resnet50(weights=None)
    with torch.no_grad():
        reference.layer4[2].conv3.weight.fill_(0.125)
    path = tmp_path / "resnet50.pth"
    torch.save(reference.state_dict(), path)
    cfg.MODEL.BACKBONE.PRETRAIN, cfg.MODEL.BACKBONE.PRETRAIN_PATH = True, str(path)
    with caplog.at_level("WARNING"):
        model = build_backbone(cfg)
    assert torch.equal(model.layer4[2].conv3.weight, reference.layer4[2].conv3.weight)
    assert torch.equal(model.conv1.weight, reference.conv1.weight)
    assert "missing" not in caplog.text and "does not use" not in caplog.text  # fc.* is expected and ignored


def test_missing_pretrain_file_names_the_config_key(cfg, tmp_path):
    cfg.MODEL.BACKBONE.PRETRAIN, cfg.MODEL.BACKBONE.PRETRAIN_PATH = True, str(tmp_path / "nope.pth")
    with pytest.raises(FileNotFoundError, match="MODEL.BACKBONE.PRETRAIN_PATH.*nope.pth"):
        build_backbone(cfg)
    cfg.MODEL.BACKBONE.PRETRAIN_PATH = ""
    cfg.MODEL.BACKBONE.NAME = "osnet"  # no published weights (an empty path on resnet50 would download)
    with pytest.raises(ValueError, match="MODEL.BACKBONE.PRETRAIN_PATH is empty.*PRETRAIN False"):
        build_backbone(cfg)


def test_loader_reports_missing_unexpected_and_mismatched_keys(tmp_path):
    model = OSNet()
    state = {"module." + k: v for k, v in model.state_dict().items()}  # DataParallel prefix is stripped
    del state["module.conv_out.conv.weight"]
    state["module.extra.weight"] = torch.zeros(3)
    state["module.stem.0.conv.weight"] = torch.zeros(1, 3, 7, 7)
    path = tmp_path / "osnet.pth"
    torch.save({"state_dict": state}, path)
    report = load_pretrained_weights(model, str(path))
    assert report.missing == ["conv_out.conv.weight"]
    assert report.unexpected == ["extra.weight"]
    assert report.mismatched == ["stem.0.conv.weight"]
    assert torch.equal(model.stage3[1].expand.conv.weight, state["module.stage3.1.expand.conv.weight"])


@pytest.mark.parametrize("name, count", [("msinet", 12), ("osnet", 6), ("resnet50", 16)])
def test_zero_init_residual_starts_every_block_as_its_shortcut(name, count):
    from fastreid.config import get_cfg
    from fastreid.modeling.backbones import build_backbone
    from fastreid.modeling.backbones.build import residual_branch_norms

    cfg = get_cfg(plugins=True)
    cfg.MODEL.BACKBONE.NAME = name
    cfg.MODEL.BACKBONE.ZERO_INIT_RESIDUAL = True
    torch.manual_seed(0)
    backbone = build_backbone(cfg)
    blocks = [m for m in backbone.modules() if residual_branch_norms(m)]
    norms = [n for m in blocks for n in residual_branch_norms(m)]
    assert len(norms) == count and all(torch.count_nonzero(n.weight) == 0 for n in norms)
    block = blocks[-1].eval()  # an identity-shortcut block now computes relu(x)
    x = torch.randn(1, norms[-1].num_features, 8, 4)
    with torch.no_grad():
        assert torch.allclose(block(x), torch.relu(x), atol=1e-6)
    cfg.MODEL.BACKBONE.ZERO_INIT_RESIDUAL = False
    torch.manual_seed(0)
    plain = [n for m in build_backbone(cfg).modules() for n in residual_branch_norms(m)]
    assert all(torch.count_nonzero(n.weight) == n.weight.numel() for n in plain)  # off by default


def test_zero_init_residual_refuses_pretrained_weights():
    from fastreid.config import ConfigError, get_cfg
    from fastreid.modeling.backbones import build_backbone

    cfg = get_cfg(plugins=True)
    cfg.MODEL.BACKBONE.NAME = "osnet"
    cfg.MODEL.BACKBONE.ZERO_INIT_RESIDUAL = True
    cfg.MODEL.BACKBONE.PRETRAIN = True
    with pytest.raises(ConfigError, match="would overwrite the ImageNet weights"):
        build_backbone(cfg)
