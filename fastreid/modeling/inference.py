"""The model the toolbox infers with: eval mode, BatchNorm folded into the convolution before it, and
the memory format that is fastest on the device (channels_last on the CPU, where the depth-wise
convolutions of OSNet and MSINet gain most). Features equal the training model's within float
tolerance (tested for every registered backbone); the training model itself is left untouched."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

__all__ = ["fold_conv_bn", "inference_model"]


def fold_conv_bn(module: nn.Module) -> int:
    """Fold, in place, every ``BatchNorm2d`` that directly follows a ``Conv2d`` among a module's children
    (the order of a Sequential, and of the blocks of this toolbox and torchvision, is the data's order)
    into that convolution; the BN becomes ``Identity``. Eval mode only. Returns how many were folded."""
    folded = 0
    for child in module.children():
        folded += fold_conv_bn(child)
    names = list(module._modules)
    for prev, cur in zip(names[:-1], names[1:]):
        conv, bn = module._modules[prev], module._modules[cur]
        if (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and conv.out_channels == bn.num_features
                and bn.track_running_stats):
            module._modules[prev] = torch.nn.utils.fusion.fuse_conv_bn_eval(conv, bn)
            module._modules[cur] = nn.Identity()
            folded += 1
    return folded


def inference_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` for inference: eval mode, no gradients, BN folded, channels_last on the CPU.
    Same input (raw 0..255 images for a meta-architecture), same features within 1e-4."""
    net = copy.deepcopy(model.module if isinstance(getattr(model, "module", None), nn.Module) else model).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    fold_conv_bn(net)
    device = next(net.parameters()).device if any(True for _ in net.parameters()) else torch.device("cpu")
    if device.type == "cpu":
        net = net.to(memory_format=torch.channels_last)
    return net
