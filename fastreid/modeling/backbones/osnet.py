"""OSNet x1.0, the omni-scale network (Zhou et al., "Omni-Scale Feature Learning for Person
Re-Identification", ICCV 2019), written from the paper.

Layout for a 256 x 128 input (channels, map size):
- stem: 7x7 conv stride 2 (64, 128x64) + 3x3 max pool stride 2 (64, 64x32);
- stage1: two OS blocks (256) + transition (1x1 conv, 2x2 average pool) -> (256, 32x16), key "stage1";
- stage2: two OS blocks (384) + transition -> (384, 16x8), key "stage2";
- stage3: two OS blocks (512, 16x8), key "stage3";
- conv_out: 1x1 conv + BN + ReLU (512, 16x8), key "final".

An OS block (bottleneck ratio 4) maps its input by 1x1 conv to ``mid = out / 4`` channels, runs four
streams of 1, 2, 3 and 4 Lite 3x3 layers (receptive fields 3, 5, 7, 9), weights each stream by the same
unified aggregation gate (a channel gate shared by the streams), sums them, and expands back by 1x1
conv + BN; the identity (1x1-projected when channels differ) is added before a ReLU.

Decision on the final fc: the reference implementation (torchreid) ends the backbone with a fc
512 -> 512 + BatchNorm1d + ReLU on the pooled vector; 2.17 M parameters counts it. Here the backbone
stops at the last feature map so it fits the backbone contract (maps in, any head on top), and the fc
becomes the head's reduction: EmbeddingHead with ``EMBEDDING_DIM 512`` and a BNNeck adds a bias-free
512 x 512 projection + BatchNorm1d (263,168 parameters), so backbone + head without classifier is
2,168,996, the paper's 2.17 M (torchreid's fc also has a 512 bias); the backbone alone has 1,905,828.
"""

from __future__ import annotations

from typing import Dict, Sequence

import torch
import torch.nn as nn

from fastreid.layers import ChannelGate, ConvBNReLU, LightConv3x3, Transition

from .build import BACKBONE_REGISTRY
from .pretrain import load_pretrained_weights, resolve_pretrain_path

__all__ = ["OSBlock", "OSNet", "build_osnet_backbone"]


class OSBlock(nn.Module):
    """Omni-scale residual block with ``num_streams`` streams of 1..T Lite 3x3 layers (T = 4 in OSNet)."""

    def __init__(self, in_ch: int, out_ch: int, bottleneck_ratio: int = 4, num_streams: int = 4):
        super().__init__()
        mid = out_ch // bottleneck_ratio
        self.reduce = ConvBNReLU(in_ch, mid, 1)
        self.streams = nn.ModuleList(
            nn.Sequential(*[LightConv3x3(mid, mid) for _ in range(depth)]) for depth in range(1, num_streams + 1)
        )
        self.gate = ChannelGate(mid)
        self.expand = ConvBNReLU(mid, out_ch, 1, relu=False)
        self.shortcut = ConvBNReLU(in_ch, out_ch, 1, relu=False) if in_ch != out_ch else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def residual_branch_norms(self):
        """The BN ending the residual branch (the expand conv's)."""
        return [self.expand.bn]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.reduce(x)
        y = sum(self.gate(stream(y)) for stream in self.streams)
        return self.relu(self.expand(y) + self.shortcut(x))


class OSNet(nn.Module):
    """OSNet trunk returning ``{"stage1", "stage2", "stage3", "final"}`` maps; see the module docstring.

    ``channels`` = (stem, stage1, stage2, stage3); ``blocks`` = OS blocks per stage. Input normalised
    images ``(B, 3, H, W)``; ``final`` is ``(B, channels[3], H/16, W/16)``.
    """

    def __init__(self, channels: Sequence[int] = (64, 256, 384, 512), blocks: Sequence[int] = (2, 2, 2)):
        super().__init__()
        if len(channels) != 4 or len(blocks) != 3:
            raise ValueError(f"OSNet: channels {tuple(channels)} / blocks {tuple(blocks)}; expected 4 and 3 values")
        self.stem = nn.Sequential(ConvBNReLU(3, channels[0], 7, stride=2), nn.MaxPool2d(3, stride=2, padding=1))
        stages = []
        for i, n in enumerate(blocks):
            in_ch, out_ch = channels[i], channels[i + 1]
            layers = [OSBlock(in_ch if j == 0 else out_ch, out_ch) for j in range(n)]
            if i < len(blocks) - 1:
                layers.append(Transition(out_ch))
            stages.append(nn.Sequential(*layers))
        self.stage1, self.stage2, self.stage3 = stages
        self.conv_out = ConvBNReLU(channels[3], channels[3], 1)
        self.out_channels: Dict[str, int] = {
            "stage1": channels[1], "stage2": channels[2], "stage3": channels[3], "final": channels[3],
        }
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = self.stem(x)
        out = {}
        for name in ("stage1", "stage2", "stage3"):
            x = getattr(self, name)(x)
            out[name] = x
        out["final"] = self.conv_out(x)
        return out


@BACKBONE_REGISTRY.register(name="osnet", aliases=("osnet_x1_0",))
def build_osnet_backbone(cfg) -> OSNet:
    """OSNet x1.0; MODEL.BACKBONE.{PRETRAIN, PRETRAIN_PATH} load a local checkpoint in this layout."""
    model = OSNet()
    if cfg.MODEL.BACKBONE.PRETRAIN:
        path = resolve_pretrain_path(cfg.MODEL.BACKBONE.PRETRAIN_PATH, "osnet")  # no published stable URL
        load_pretrained_weights(model, path, ignore_prefixes=("fc.", "classifier."))
    return model
