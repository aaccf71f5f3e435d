"""The META_ARCH registry.

A registered entry is a builder ``fn(cfg) -> nn.Module`` (classes with ``from_config``-style
construction register a small function or classmethod). The model's ``forward(batch)`` takes a dict
with ``"images"`` (B, 3, H, W) on the 0..255 scale (and ``"targets"`` in training), or a bare image
tensor in eval mode; it returns a ``Dict[str, Tensor]`` of loss terms in training and the test feature
``Tensor (B, D)`` in eval mode.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from fastreid.utils.registry import Registry

__all__ = ["META_ARCH_REGISTRY", "build_model"]

META_ARCH_REGISTRY = Registry("META_ARCH")
META_ARCH_REGISTRY.__doc__ = __doc__


def build_model(cfg) -> nn.Module:
    """Build ``cfg.MODEL.META_ARCHITECTURE`` on ``cfg.MODEL.DEVICE`` ("auto": a GPU when visible), in
    channels_last memory format when ``MODEL.CHANNELS_LAST``; loads no weights."""
    from fastreid.utils.env import resolve_device

    device = resolve_device(cfg.MODEL.DEVICE)  # checked before building: a bad device fails at once
    model = META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE)(cfg)
    if cfg.MODEL.CHANNELS_LAST:  # 4-d weights only; convolutions then produce channels_last activations
        return model.to(device, memory_format=torch.channels_last)
    return model.to(device)
