"""FBLNeck: branch shapes, the 768-d test feature, part pooling by halves, frozen BN biases."""

import pytest
import torch

from fastreid.modeling.heads.build import build_heads
from msinet.neck import FBLNeck


def _features(b=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"stage2": torch.randn(b, 384, 16, 8, generator=g), "final": torch.randn(b, 512, 16, 8, generator=g)}


def test_training_returns_global_and_part_branches():
    neck = FBLNeck(512, 384, num_classes=5).train()
    out = neck(_features())
    assert out["logits"]["global"].shape == (4, 5) and out["logits"]["part"].shape == (4, 5)
    assert out["features"]["global"].shape == (4, 512) and out["features"]["part"].shape == (4, 256)


def test_test_feature_is_gap_of_final_and_two_half_pools_of_the_part_conv():
    neck = FBLNeck(512, 384, num_classes=5).eval()
    feats = _features()
    out = neck(feats)
    assert out.shape == (4, 768)
    torch.testing.assert_close(out[:, :512], feats["final"].mean(dim=(2, 3)))
    part = neck.part_conv(feats["stage2"])
    torch.testing.assert_close(out[:, 512:640], part[:, :, :8].mean(dim=(2, 3)))
    torch.testing.assert_close(out[:, 640:], part[:, :, 8:].mean(dim=(2, 3)))


def test_bn_biases_are_frozen_and_classifier_inputs_are_after_the_neck():
    neck = FBLNeck(512, 384, num_classes=5)
    assert not neck.global_bn.bias.requires_grad and not neck.part_bn.bias.requires_grad
    assert neck.global_fc.bias is None and neck.part_conv.bias is not None


def test_builder_reads_channels_from_the_backbone_and_rejects_backbones_without_stage2(msinet_cfg):
    head = build_heads(msinet_cfg, {"stage2": 96, "final": 128})
    assert head.part_conv.in_channels == 96 and head.global_fc.in_features == 128
    with pytest.raises(ValueError, match="PART_FEATURE.*'stage2'.*expected one of final, layer3"):
        build_heads(msinet_cfg, {"final": 2048, "layer3": 1024})


def test_fblneck_reads_the_configured_part_map_on_resnet50(msinet_cfg):
    from fastreid.modeling.meta_arch.build import build_model

    msinet_cfg.MODEL.BACKBONE.NAME = "resnet50"
    msinet_cfg.MODEL.BACKBONE.PRETRAIN = False
    msinet_cfg.MODEL.MSINET.PART_FEATURE = "layer3"
    model = build_model(msinet_cfg).eval()
    assert model.heads.part_conv.in_channels == 1024
    with torch.no_grad():
        feats = model(torch.rand(2, 3, 64, 32) * 255)
    assert feats.shape == (2, 2048 + 256) and torch.isfinite(feats).all()


def test_fblneck_works_on_osnet(msinet_cfg):
    from fastreid.modeling.meta_arch.build import build_model

    msinet_cfg.MODEL.BACKBONE.NAME = "osnet"
    model = build_model(msinet_cfg).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 32) * 255).shape == (2, 768)
