"""inference_model: BN folded, channels_last on the CPU, the same features as the training model for every
registered backbone (with the head it is used with), and the training model left untouched."""

import pytest
import torch
import torch.nn as nn

from fastreid.config import get_cfg
from fastreid.modeling import build_model
from fastreid.modeling.backbones import BACKBONE_REGISTRY
from fastreid.modeling.inference import inference_model
from fastreid.utils.testing import assert_within_float32_rounding

HEADS = {"msinet": "FBLNeck"}


@pytest.mark.parametrize("name", [n for n in BACKBONE_REGISTRY.names() if n != "msinet_supernet"])
def test_inference_model_gives_the_same_features(name):
    cfg = get_cfg(plugins=True)
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.BACKBONE.NAME = name
    cfg.MODEL.HEADS.NAME = HEADS.get(name, "EmbeddingHead")
    cfg.MODEL.HEADS.NUM_CLASSES = 4
    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    with torch.no_grad():  # give the BNs non-trivial statistics, as a trained model has
        for _ in range(3):
            model.backbone(torch.randn(4, 3, 64, 32))
    model.eval()
    fast = inference_model(model)
    x = torch.rand(3, 3, 64, 32) * 255
    with torch.no_grad():
        got = fast(x)
    # folded BNs, fused blocks and channels_last run other float32 kernels: as exact as float32 allows
    assert_within_float32_rounding(got, lambda m: m(x.double()), model)
    remaining = sum(isinstance(m, nn.BatchNorm2d) for m in fast.backbone.modules())
    total = sum(isinstance(m, nn.BatchNorm2d) for m in model.backbone.modules())
    assert remaining < total / 2  # most BNs were folded
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.backbone.modules())  # the original is untouched
    assert next(fast.parameters()).requires_grad is False and model.training is False
