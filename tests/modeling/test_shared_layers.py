"""The convolution blocks shared by OSNet and MSINet (fastreid/layers/conv.py) keep every checkpoint
loading: OSNet state dicts written before the blocks were shared (positional keys) load strictly."""

import re

import torch

from fastreid.layers import ConvBNReLU, Transition
from fastreid.modeling.backbones.osnet import OSNet


def _positional(key: str) -> str:
    """The key the same tensor had in OSNet's earlier layout (ConvBNReLU and the transition were plain
    nn.Sequential there; LightConv3x3's ``bn`` was already named)."""
    key = re.sub(r"\.conv\.conv\.", ".0.0.", key)  # transition -> its ConvBNReLU -> conv
    key = re.sub(r"\.conv\.bn\.", ".0.1.", key)  # transition -> its ConvBNReLU -> bn
    key = re.sub(r"(stem\.0|reduce|expand|shortcut|conv_out)\.conv\.", r"\1.0.", key)
    return re.sub(r"(stem\.0|reduce|expand|shortcut|conv_out)\.bn\.", r"\1.1.", key)


def test_an_osnet_state_dict_of_the_positional_layout_loads_strictly_with_the_same_outputs():
    torch.manual_seed(0)
    saved = OSNet().eval()
    for v in saved.state_dict().values():
        if v.dtype.is_floating_point:
            v.copy_(torch.rand_like(v) + 0.5)  # every tensor differs from a fresh model's
    old = {_positional(k): v for k, v in saved.state_dict().items()}
    # keys of the earlier layout, as its checkpoints hold them
    for key in ("stem.0.0.weight", "stage1.0.reduce.0.weight", "stage1.0.expand.1.running_var",
                "stage1.2.0.0.weight", "stage1.2.0.1.weight", "conv_out.0.weight",
                "stage1.0.streams.0.0.bn.weight"):
        assert key in old, key
    model = OSNet().eval()
    model.load_state_dict(old, strict=True)
    x = torch.randn(2, 3, 64, 32)
    assert torch.equal(model(x)["final"], saved(x)["final"])


def test_the_shared_blocks_name_their_children_and_default_to_same_padding():
    block = ConvBNReLU(3, 8, 7, stride=2)
    assert [n for n, _ in block.named_children()] == ["conv", "bn", "relu"]
    assert block.conv.padding == (3, 3) and block(torch.randn(1, 3, 16, 8)).shape == (1, 8, 8, 4)
    linear = ConvBNReLU(8, 4, relu=False)
    assert [n for n, _ in linear.named_children()] == ["conv", "bn"]
    assert (linear(torch.randn(1, 8, 4, 4)) < 0).any()  # no ReLU
    assert Transition(4)(torch.randn(1, 4, 8, 6)).shape == (1, 4, 4, 3)


def test_the_loaders_compare_an_older_layout_key_by_key(tmp_path):
    """load_pretrained_weights and the Checkpointer rename first, so a shape mismatch in an older file is
    reported under the model's name instead of failing inside load_state_dict."""
    from fastreid.modeling.backbones.pretrain import load_pretrained_weights
    from fastreid.utils.checkpoint import Checkpointer

    old = {_positional(k): v.clone() for k, v in OSNet().state_dict().items()}
    old["stem.0.0.weight"] = torch.zeros(1, 3, 7, 7)
    old["stage1.2.0.1.weight"] = torch.full_like(old["stage1.2.0.1.weight"], 3.0)
    torch.save({"model": old}, tmp_path / "old.pth")
    model = OSNet()
    report = load_pretrained_weights(model, str(tmp_path / "old.pth"))
    assert report.mismatched == ["stem.0.conv.weight"] and not report.missing
    assert not report.unexpected and torch.all(model.stage1[2].conv.bn.weight == 3.0)
    model = OSNet()
    Checkpointer(model).load(str(tmp_path / "old.pth"))
    assert torch.all(model.stage1[2].conv.bn.weight == 3.0)
