"""inference_model: BN folded, conv + ReLU as one oneDNN call, channels_last on the CPU, the same features as
the training model for every registered backbone (with the head it is used with), and the training model left
untouched."""

import pytest
import torch
import torch.nn as nn

from fastreid.config import get_cfg
from fastreid.modeling import build_model
from fastreid.modeling.backbones import BACKBONE_REGISTRY
from fastreid.modeling.inference import OneDNNConv2d, _onednn_conv_available, fuse_conv_relu, inference_model

HEADS = {"msinet": "FBLNeck"}


@pytest.mark.parametrize("name", sorted(n for n in BACKBONE_REGISTRY._obj_map if n != "msinet_supernet"))
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
        expected, got = model(x), fast(x)
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4), (got - expected).abs().max()
    remaining = sum(isinstance(m, nn.BatchNorm2d) for m in fast.backbone.modules())
    total = sum(isinstance(m, nn.BatchNorm2d) for m in model.backbone.modules())
    assert remaining < total / 2  # most BNs were folded
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.backbone.modules())  # the original is untouched
    assert next(fast.parameters()).requires_grad is False and model.training is False


def _chain():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                        nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU(), nn.Conv2d(16, 4, 1))
    with torch.no_grad():
        seq[1].running_mean.uniform_(-1, 1)
        seq[1].running_var.uniform_(0.5, 2)
    return seq.eval()


@pytest.mark.skipif(not _onednn_conv_available(), reason="this PyTorch build has no oneDNN convolution entry point")
def test_conv_relu_pairs_in_sequentials_become_one_onednn_call_with_the_same_output():
    seq = _chain()
    fast = inference_model(seq)
    kinds = [type(m).__name__ for m in fast]
    # conv+BN+ReLU and the depth-wise conv+ReLU fused; the last conv (no ReLU after it) stays a Conv2d
    assert kinds == ["OneDNNConv2d", "Identity", "Identity", "OneDNNConv2d", "Identity", "Conv2d"], kinds
    assert [m.relu for m in fast if isinstance(m, OneDNNConv2d)] == [True, True]
    x = torch.randn(2, 8, 10, 6)
    with torch.no_grad():
        expected = seq(x)
        got = fast(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    with torch.no_grad(), torch.profiler.profile() as prof:  # the oneDNN entry point is the one taken
        fast(x)
    assert sum(e.key == "mkldnn::_convolution_pointwise" for e in prof.key_averages()) == 1
    assert next(e.count for e in prof.key_averages() if e.key == "mkldnn::_convolution_pointwise") == 2


def test_conv_relu_fusion_leaves_containers_whose_forward_reorders_children_alone():
    class Bottleneck(nn.Module):  # ReLU declared after conv2 but applied after the residual sum
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(4, 4, 1)
            self.conv2 = nn.Conv2d(4, 4, 1)
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.conv2(self.relu(self.conv1(x))) - x)

    block = Bottleneck().eval()
    assert fuse_conv_relu(block) == 0
    assert isinstance(block.conv2, nn.Conv2d) and isinstance(block.relu, nn.ReLU)


@pytest.mark.skipif(not _onednn_conv_available(), reason="this PyTorch build has no oneDNN convolution entry point")
def test_fused_conv_falls_back_to_plain_ops_for_tracing_and_gradients():
    fast = inference_model(_chain())
    x = torch.randn(2, 8, 10, 6)
    with torch.no_grad():
        expected = fast(x)
    traced = torch.jit.trace(fast, x, check_trace=False)
    graph = str(traced.inlined_graph)
    assert "aten::_convolution" in graph and "mkldnn" not in graph  # ONNX / TorchScript see plain convs
    xg = x.clone().requires_grad_(True)
    y = fast(xg)
    y.sum().backward()  # the fallback keeps autograd working for callers that need input gradients
    assert xg.grad is not None
    torch.testing.assert_close(y.detach(), expected, atol=1e-5, rtol=1e-5)
