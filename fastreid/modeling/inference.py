"""The model the toolbox infers with: eval mode, BatchNorm folded into the convolution before it, and
the memory format that is fastest on the device (channels_last on the CPU, where the depth-wise
convolutions of OSNet and MSINet gain most). Features equal the training model's within float
tolerance (tested for every registered backbone); the training model itself is left untouched."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from fastreid.utils.comm import unwrap_model

__all__ = ["fold_conv_bn", "fuse_for_inference", "inference_model", "merge_1x1_convs"]


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


def merge_1x1_convs(convs, along: str, signs=None) -> nn.Conv2d:
    """One 1x1 convolution (with bias) computing what ``convs`` compute together:

    - ``along="out"``: the same input, outputs concatenated (``torch.cat([c(x) for c in convs], 1)``);
    - ``along="in"``: inputs concatenated, outputs summed with ``signs`` (default all +1), i.e.
      ``sum(s * c(x_i))`` for ``torch.cat(xs, 1)``.
    """
    if any(c.kernel_size != (1, 1) or c.stride != (1, 1) or c.groups != 1 for c in convs):
        raise ValueError("merge_1x1_convs: every convolution must be 1x1, stride 1, groups 1")
    signs = [1.0] * len(convs) if signs is None else list(signs)
    biases = [c.bias if c.bias is not None else torch.zeros(c.out_channels, device=c.weight.device) for c in convs]
    if along == "out":
        weight, bias = torch.cat([c.weight for c in convs], 0), torch.cat(biases)
    elif along == "in":
        weight = torch.cat([s * c.weight for s, c in zip(signs, convs)], 1)
        bias = sum(s * b for s, b in zip(signs, biases))
    else:
        raise ValueError(f"merge_1x1_convs: along={along!r}; expected 'in' or 'out'")
    merged = nn.Conv2d(weight.shape[1], weight.shape[0], 1, bias=True).to(weight.device, weight.dtype)
    with torch.no_grad():
        merged.weight.copy_(weight)
        merged.bias.copy_(bias)
    return merged.requires_grad_(False)


def fuse_for_inference(module: nn.Module) -> int:
    """Call ``fuse_for_inference()`` on every sub-module that defines it (after BN folding, in eval mode):
    a block's way of rewriting itself into an equivalent form that is faster to run (e.g. MSINet's cell
    merges the 1x1 convolutions of its two branches). Returns how many fused."""
    return sum(bool(m.fuse_for_inference()) for m in module.modules()
               if m is not module and callable(getattr(m, "fuse_for_inference", None)))


def inference_model(model: nn.Module, fuse_blocks: bool = True) -> nn.Module:
    """A copy of ``model`` for inference: eval mode, no gradients, BN folded, blocks fused
    (:func:`fuse_for_inference`), channels_last on the CPU. Same input (raw 0..255 images for a
    meta-architecture), same features within 1e-4. ``fuse_blocks=False`` leaves the blocks as they are
    (what ONNX export wants, and to measure what fusing brings)."""
    net = copy.deepcopy(unwrap_model(model)).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    fold_conv_bn(net)
    if fuse_blocks:
        fuse_for_inference(net)
    device = next(net.parameters()).device if any(True for _ in net.parameters()) else torch.device("cpu")
    if device.type == "cpu":
        net = net.to(memory_format=torch.channels_last)
    return net
