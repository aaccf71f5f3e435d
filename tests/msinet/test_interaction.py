"""Interaction modules and the MSI cell: shapes, hand-checkable outputs, injection of a custom op."""

import pytest
import torch
import torch.nn as nn

from fastreid.layers import LightConv3x3
from msinet.cell import MSICell
from msinet.interaction import (
    INTERACTION_OPS,
    ChannelGate,
    CrossAttention,
    Exchange,
    NoInteraction,
    build_interaction,
)

torch.set_num_threads(1)


def _pair(seed=0, shape=(2, 8, 4, 3)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


def test_op_names_map_to_the_four_classes():
    assert {k: type(v(8)) for k, v in INTERACTION_OPS.items()} == {
        "none": NoInteraction, "exchange": Exchange, "gate": ChannelGate, "attention": CrossAttention}


def test_none_returns_inputs_and_exchange_swaps_them():
    x1, x2 = _pair()
    y1, y2 = NoInteraction(8)(x1, x2)
    assert y1 is x1 and y2 is x2
    y1, y2 = Exchange(8)(x1, x2)
    assert y1 is x2 and y2 is x1


def test_channel_gate_multiplies_each_branch_by_its_own_shared_mlp_gate():
    x1, x2 = _pair()
    gate = ChannelGate(32, reduction=16)
    x1, x2 = _pair(shape=(2, 32, 4, 3))
    y1, y2 = gate(x1, x2)
    for x, y in ((x1, y1), (x2, y2)):
        pooled = x.mean(dim=(2, 3), keepdim=True)
        g = torch.sigmoid(gate.fc2(torch.relu(gate.fc1(pooled))))
        torch.testing.assert_close(y, x * g)
    assert gate.fc1.out_channels == 2


def test_cross_attention_is_identity_at_init_and_matches_the_formula():
    x1, x2 = _pair()
    att = CrossAttention(8)
    y1, y2 = att(x1, x2)
    torch.testing.assert_close(y1, x1)
    torch.testing.assert_close(y2, x2)
    with torch.no_grad():
        att.gamma.fill_(0.5)
    y1, y2 = att(x1, x2)
    b, c, h, w = x1.shape
    for xq, xk, y in ((x1, x2, y1), (x2, x1, y2)):
        q, k = xq.reshape(b, c, -1), xk.reshape(b, c, -1)
        energy = q @ k.transpose(1, 2)
        attn = torch.softmax(energy.max(-1, keepdim=True).values - energy, dim=-1)
        torch.testing.assert_close(y, 0.5 * (attn @ q).reshape(b, c, h, w) + xq)


def test_unknown_op_error_lists_the_valid_ops():
    with pytest.raises(ValueError, match="'fly' is not an interaction op; expected one of none, gate, attention, exchange"):
        build_interaction("fly", 8)


def test_light_conv_keeps_size_and_has_a_depthwise_conv():
    m = LightConv3x3(8, 8)
    assert m(torch.randn(1, 8, 5, 3)).shape == (1, 8, 5, 3)
    assert m.depthwise.groups == 8 and m.pointwise.bias is None


@pytest.mark.parametrize("fusion", ["sum", "minus", "mul"])
@pytest.mark.parametrize("scale_ratio", [(1, 1), (1, 3), (2, 4)])
def test_cell_shapes_for_fusion_and_scale_ratio(fusion, scale_ratio):
    cell = MSICell(16, 32, ops=("gate", "attention"), fusion=fusion, scale_ratio=scale_ratio)
    assert cell(torch.randn(2, 16, 6, 4)).shape == (2, 32, 6, 4)
    assert len(cell.round1_a) == scale_ratio[0] and len(cell.round2_b) == scale_ratio[1]
    assert cell.mid_channels == 8


def test_cell_fusion_combines_branch_projections_as_named():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 4, 4)
    outs = {}
    for fusion in ("sum", "minus", "mul"):
        torch.manual_seed(1)
        cell = MSICell(8, 8, ops=("none", "none"), fusion=fusion).eval()
        outs[fusion] = cell(x)
        a = cell.expand_a(cell.round2_a(cell.round1_a(cell.reduce_a(x))))
        b = cell.expand_b(cell.round2_b(cell.round1_b(cell.reduce_b(x))))
        fused = {"sum": a + b, "minus": a - b, "mul": a * b}[fusion]
        torch.testing.assert_close(outs[fusion], torch.relu(fused + x))


def test_cell_accepts_an_injected_interaction_module():
    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x1, x2):
            self.calls += 1
            return x2, x1

    rec = Recorder()
    cell = MSICell(8, 16, ops=(rec, "none"), mid_channels=2)
    cell(torch.randn(1, 8, 4, 4))
    assert rec.calls == 1 and cell.interact1 is rec and cell.mid_channels == 2


def test_cell_rejects_bad_fusion_and_ratio():
    with pytest.raises(ValueError, match="fusion: 'max'"):
        MSICell(8, 8, fusion="max")
    with pytest.raises(ValueError, match="scale_ratio"):
        MSICell(8, 8, scale_ratio=(0, 3))
