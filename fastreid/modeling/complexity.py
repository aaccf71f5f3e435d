"""Model size and cost: parameters (with and without identity classifiers) and multiply-adds."""

from __future__ import annotations

import copy
from typing import Dict, Sequence

import torch
import torch.nn as nn

__all__ = ["count_parameters", "count_macs"]


def count_parameters(model: nn.Module) -> Dict[str, int]:
    """``{"params", "params_without_classifier"}``; a classifier is any parameter whose name holds
    "classifier" (the identity classifiers of the heads, which are dropped at test time)."""
    total = sum(p.numel() for p in model.parameters())
    cls = sum(p.numel() for n, p in model.named_parameters() if "classifier" in n)
    return {"params": total, "params_without_classifier": total - cls}


def count_macs(model: nn.Module, size: Sequence[int]) -> float:
    """Multiply-adds of one test-time forward of a ``1 x 3 x H x W`` image (fvcore's count), on a CPU
    copy of ``model`` in eval mode (the model itself is left as it was)."""
    from fvcore.nn import FlopCountAnalysis

    net = copy.deepcopy(model).cpu().eval()
    analysis = FlopCountAnalysis(net, torch.rand(1, 3, *size) * 255)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return float(analysis.total())
