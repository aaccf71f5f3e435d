"""fastreid.utils.testing: the float32 tolerance accepts float32 kernels and rejects what is not float32
arithmetic of the same function (bfloat16, a wrong result)."""

import pytest
import torch
import torch.nn as nn

from fastreid.utils.testing import U32, assert_within_float32_rounding, float32_error_scale


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 8, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()


def test_float32_results_pass_and_bfloat16_or_wrong_results_fail():
    net, x = _net(), torch.randn(4, 3, 16, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = net(x)
        got_cl = net.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net(x).float()
    net = net.to(memory_format=torch.contiguous_format)
    scale = float32_error_scale(lambda m: m(x.double()), net)
    assert U32 <= scale < 1e-5
    for result in (got, got_cl):
        assert_within_float32_rounding(result, lambda m: m(x.double()), net)
    for wrong in (low, got * (1 + 1e-3)):
        with pytest.raises(AssertionError, match="float32 scale"):
            assert_within_float32_rounding(wrong, lambda m: m(x.double()), net)
