"""ResNet-50 backbone (He et al., CVPR 2016) in torchvision's layout, for ReID.

The network is torchvision's ``resnet50`` without its average pool and fc, so torchvision ImageNet
checkpoints load unchanged (their ``fc.*`` tensors are ignored). ReID practice (Luo et al. 2019,
"Bag of Tricks") sets the stride of the last stage to 1, which doubles the final map: 16 x 8 instead
of 8 x 4 for a 256 x 128 input. With ``MODEL.BACKBONE.PRETRAIN True`` and no PRETRAIN_PATH, torchvision's
ImageNet weights (IMAGENET1K_V1) are downloaded once into torch.hub's cache and hash-checked; a local
file or another URL in PRETRAIN_PATH is used instead. 23,508,032 parameters.
"""

from __future__ import annotations

import logging
from typing import Dict

import torch
import torch.nn as nn
from torchvision.models import resnet50

from fastreid.utils.errors import ConfigValueError

from .build import BACKBONE_REGISTRY
from .pretrain import load_pretrained_weights, resolve_pretrain_path

__all__ = ["ResNet50", "build_resnet50_backbone"]

logger = logging.getLogger(__name__)


class ResNet50(nn.Module):
    """ResNet-50 trunk returning ``{"layer1": .., "layer4": .., "final": layer4}`` maps.

    Input ``(B, 3, H, W)`` normalised images. Channels 256/512/1024/2048 at strides 4/8/16/32
    (16 for ``layer4`` when ``last_stride`` is 1).
    """

    def __init__(self, last_stride: int = 1):
        super().__init__()
        if last_stride not in (1, 2):
            raise ConfigValueError(f"MODEL.BACKBONE.LAST_STRIDE: {last_stride} is not allowed; expected 1 or 2")
        net = resnet50(weights=None)  # torchvision inits convs kaiming-normal (fan_out), BN 1 / 0
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        if last_stride == 1:
            first = self.layer4[0]
            first.conv2.stride = (1, 1)  # torchvision (v1.5) strides the 3x3 conv of a bottleneck
            first.downsample[0].stride = (1, 1)
        self.last_stride = last_stride
        self.out_channels: Dict[str, int] = {
            "layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048, "final": 2048,
        }

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        out = {}
        for name in ("layer1", "layer2", "layer3", "layer4"):
            x = getattr(self, name)(x)
            out[name] = x
        out["final"] = x
        return out


@BACKBONE_REGISTRY.register(name="resnet50", aliases=("build_resnet_backbone",))
def build_resnet50_backbone(cfg) -> ResNet50:
    """MODEL.BACKBONE.{LAST_STRIDE, PRETRAIN, PRETRAIN_PATH} -> :class:`ResNet50`."""
    model = ResNet50(last_stride=cfg.MODEL.BACKBONE.LAST_STRIDE)
    if cfg.MODEL.BACKBONE.PRETRAIN:
        from torchvision.models import ResNet50_Weights

        path = resolve_pretrain_path(cfg.MODEL.BACKBONE.PRETRAIN_PATH, "resnet50", ResNet50_Weights.IMAGENET1K_V1.url)
        load_pretrained_weights(model, path, ignore_prefixes=("fc.",))
    return model
