"""MSINet: the searched Multi-Scale Interaction network (Gu et al., CVPR 2023, Fig. 2).

Stem (7x7 conv stride 2 + BN + ReLU, 3x3 max pool stride 2), then three stages of two MSI cells
(channels 256, 384, 512); stages 1 and 2 are followed by a transition (1x1 conv + BN + ReLU, 2x2 average
pool stride 2). A 256x128 input gives a 384 x 16 x 8 map after the stage-2 transition and a 512 x 16 x 8
final map. The 12 interaction modules follow the genotype (see ``genotypes.py``).

Registered backbone ``msinet`` (MODEL.BACKBONE.NAME); its forward returns
``{"stage2": (B, 384, H/16, W/16), "final": (B, 512, H/16, W/16)}``.
"""

from __future__ import annotations

import logging
from typing import Callable, Dict, Sequence

import torch
import torch.nn as nn

from fastreid.layers import ConvBNReLU, Transition
from fastreid.modeling.backbones.build import BACKBONE_REGISTRY
from fastreid.utils.errors import ConfigValueError

from .cell import MSICell
from .genotypes import NUM_INTERACTIONS, genotype_to_cells, resolve_genotype

__all__ = ["MSINet", "MSISkeleton", "init_msinet_weights", "build_msinet_backbone"]

logger = logging.getLogger(__name__)


def init_msinet_weights(module: nn.Module) -> None:
    """The authors' init: convs kaiming normal (fan_out, relu), norms 1/0, linears N(0, 0.01)/0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class MSISkeleton(nn.Module):
    """The stem / stage / transition layout shared by MSINet and its search supernet: a stem (7x7 conv
    stride 2 + BN + ReLU, 3x3 max pool stride 2), three stages of two cells, a transition after stages
    1 and 2; ``forward -> {"stage2", "final"}``. ``make_cell(cin, cout, index)`` builds cell ``index``
    (0..5, network order); the authors' initialisation is applied at the end."""

    def _build(self, channels: Sequence[int], make_cell: Callable[[int, int, int], nn.Module]) -> None:
        c0, c1, c2, c3 = (int(c) for c in channels)
        self.stem = nn.Sequential(ConvBNReLU(3, c0, 7, stride=2, padding=3), nn.MaxPool2d(3, 2, padding=1))
        self.stage1 = nn.Sequential(make_cell(c0, c1, 0), make_cell(c1, c1, 1))
        self.transition1 = Transition(c1)
        self.stage2 = nn.Sequential(make_cell(c1, c2, 2), make_cell(c2, c2, 3))
        self.transition2 = Transition(c2)
        self.stage3 = nn.Sequential(make_cell(c2, c3, 4), make_cell(c3, c3, 5))
        self.out_channels: Dict[str, int] = {"stage2": c2, "final": c3}
        init_msinet_weights(self)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = self.transition1(self.stage1(self.stem(x)))
        stage2 = self.transition2(self.stage2(x))
        return {"stage2": stage2, "final": self.stage3(stage2)}


class MSINet(MSISkeleton):
    """The MSINet backbone.

    Args:
        genotype: 12 op names, two per cell in network order.
        channels: stem channels and the three stage channels.
        fusion: branch fusion of every cell (``sum``, ``minus``, ``mul``).
        scale_ratio: LightConv3x3 depths of the two branches per round.

    ``forward(x (B, 3, H, W) normalised) -> {"stage2", "final"}``; ``out_channels`` gives their channels.
    """

    def __init__(self, genotype: Sequence[str], channels: Sequence[int] = (64, 256, 384, 512),
                 fusion: str = "sum", scale_ratio: Sequence[int] = (1, 3)) -> None:
        super().__init__()
        if len(genotype) != NUM_INTERACTIONS:
            raise ValueError(f"MSINet genotype: expected {NUM_INTERACTIONS} ops, got {len(genotype)}")
        if len(channels) != 4:
            raise ValueError(f"MSINet channels: expected 4 values (stem + 3 stages), got {list(channels)}")
        self.genotype = list(genotype)
        cell_ops = genotype_to_cells(self.genotype)
        self._build(channels, lambda cin, cout, i: MSICell(cin, cout, cell_ops[i], fusion, scale_ratio))


@BACKBONE_REGISTRY.register(name="msinet")
def build_msinet_backbone(cfg) -> MSINet:
    """Build MSINet from MODEL.MSINET.{GENOTYPE, SEED, FUSION, SCALE_RATIO, CHANNELS}."""
    m = cfg.MODEL.MSINET
    genotype = resolve_genotype(m.GENOTYPE, seed=int(m.SEED))
    if len(m.SCALE_RATIO) != 2:
        raise ConfigValueError(f"MODEL.MSINET.SCALE_RATIO: {list(m.SCALE_RATIO)}; expected two depths [A, B]")
    if m.FUSION not in ("sum", "minus", "mul"):
        raise ConfigValueError(f"MODEL.MSINET.FUSION: {m.FUSION!r}; expected one of sum, minus, mul")
    logger.info("MSINet genotype: %s", ", ".join(genotype))
    model = MSINet(genotype, channels=tuple(m.CHANNELS), fusion=m.FUSION, scale_ratio=tuple(m.SCALE_RATIO))
    if cfg.MODEL.BACKBONE.PRETRAIN:
        _load_pretrained(model, cfg.MODEL.BACKBONE.PRETRAIN_PATH)
    return model


def _load_pretrained(model: MSINet, path: str) -> None:
    """Load ImageNet weights, ours or the authors' layout (renamed on the fly: ``conv1`` and ``cells.*``
    become the stem, stages and transitions); every tensor whose name and shape then match is loaded,
    the rest is reported with counts (see ``load_pretrained_weights``)."""
    from fastreid.modeling.backbones.pretrain import load_pretrained_weights, resolve_pretrain_path

    from .convert import convert_backbone_state_dict

    def to_ours(state):
        return convert_backbone_state_dict(state, keep_others=True) if any(k.startswith("cells.") for k in state) \
            else state

    path = resolve_pretrain_path(path, "msinet")  # the authors' weights are on a file-sharing drive
    load_pretrained_weights(model, path, convert=to_ours)
