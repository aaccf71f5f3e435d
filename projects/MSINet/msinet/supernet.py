"""The MSI supernet: the search form of MSINet (CVPR 2023, Section 3.1 Eq. 1 and Section 3.2).

Every interaction module (IM) of the supernet is a :class:`MixedInteraction` that runs all four
options of the search space on the same pair of branch features and returns their weighted sum,
the weights being the softmax of one row of the architecture parameter ``alpha`` (12 x 4: 12 IMs, 2 per
cell x 6 cells, in order). ``alpha`` is an ``nn.Parameter`` of the supernet, so it follows
``.to(device)``, is saved with the weights and is averaged like them under DistributedDataParallel;
``arch_parameters()`` names it so the weight optimizer leaves it to the architecture optimizer.
``genotype()`` takes the argmax option of every IM.

Layout (channels (64, 256, 384, 512)): stem 7x7 conv stride 2 + BN + ReLU, 3x3 max pool stride 2;
three stages of two MSI cells; stages 1 and 2 end with a transition (1x1 conv + BN + ReLU, 2x2 average
pool). The authors' supernet cells are narrower than the searched MSINet's: their branches have
``C_in / 4`` channels (``mid_rule="in"``) where MSINet uses ``C_out / 4`` (``mid_rule="out"``); with
``"in"`` the supernet plus its 512-d BatchNorm neck holds 1,687,590 weights at 256x128, the authors'
count (alpha and classifier excluded).
"""

from __future__ import annotations

import logging
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from fastreid.modeling.backbones.build import BACKBONE_REGISTRY

from .cell import MSICell
from .interaction import INTERACTION_OPS, OP_NAMES, check_op_name
from .msinet import MSISkeleton

__all__ = ["MID_RULES", "MixedInteraction", "MSISupernet", "derive_state_dict",
           "build_msinet_supernet"]

logger = logging.getLogger(__name__)

# How a supernet cell's branch width follows its channels: C_in / 4 (authors' supernet) or C_out / 4.
MID_RULES = ("in", "out")
NUM_CELLS = 6
IMS_PER_CELL = 2


class MixedInteraction(nn.Module):
    """An IM holding every option of the search space; output = softmax(alpha row)-weighted sum.

    Args:
        channels: branch channels C of the pairs it receives.
        alpha: the architecture parameter (num_ims, num_ops) this IM reads its row from. It belongs
            to the supernet and is only referenced here (not registered twice); ``None`` gives the IM
            its own (1, num_ops) alpha, for use outside a supernet.
        index: the row of ``alpha`` used by this IM.
        op_names: the options, in the column order of ``alpha``.

    forward(x1, x2): two ``(B, C, H, W)`` maps -> the weighted pair, same shapes. ``weights``
    (num_ops,) may be passed explicitly; otherwise softmax(alpha[index]) is used.
    """

    def __init__(self, channels: int, alpha: Optional[nn.Parameter] = None, index: int = 0,
                 op_names: Sequence[str] = OP_NAMES) -> None:
        super().__init__()
        self.op_names = tuple(check_op_name(n, "MixedInteraction op") for n in op_names)
        self.ops = nn.ModuleList(INTERACTION_OPS[n](channels) for n in self.op_names)
        if alpha is None:
            self.alpha = nn.Parameter(1e-3 * torch.randn(1, len(self.op_names)))
            index = 0
            alpha = self.alpha
        if alpha.shape[-1] != len(self.op_names):
            raise ValueError(f"MixedInteraction alpha: {alpha.shape[-1]} columns, expected {len(self.op_names)}")
        self.index = index
        # a list hides the shared parameter from this module's registration (the supernet owns it)
        self._alpha_ref: List[nn.Parameter] = [alpha]

    def weights(self) -> torch.Tensor:
        """Softmax of this IM's alpha row, (num_ops,)."""
        return F.softmax(self._alpha_ref[0][self.index], dim=-1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor,
                weights: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        w = self.weights() if weights is None else weights
        out1, out2 = 0, 0
        for i, op in enumerate(self.ops):
            y1, y2 = op(x1, x2)
            out1 = out1 + w[i] * y1
            out2 = out2 + w[i] * y2
        return out1, out2


class MSISupernet(MSISkeleton):
    """The search form of MSINet: six MSI cells whose 12 IMs are :class:`MixedInteraction`.

    Args:
        channels: stem and stage channels (4 values).
        scale_ratio: LightConv3x3 depths of branch A and B (the paper's 3:1 is (1, 3)).
        fusion: branch fusion of every cell ("sum", "minus", "mul").
        mid_rule: "in" (branch width C_in / 4, the authors' supernet) or "out" (C_out / 4, as MSINet).
        op_names: the options of every IM, in alpha's column order.
        alpha_std: alpha starts as ``alpha_std * N(0, 1)`` (1e-3 in the authors' search).

    forward(images (B, 3, H, W), normalised) -> {"stage2", "final"} maps (as MSINet's backbone); ``out_channels``
    gives their channels. At 256x128 the final map is (B, 512, 16, 8).
    """

    def __init__(self, channels: Sequence[int] = (64, 256, 384, 512), scale_ratio: Sequence[int] = (1, 3),
                 fusion: str = "sum", mid_rule: str = "in", op_names: Sequence[str] = OP_NAMES,
                 alpha_std: float = 1e-3) -> None:
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"MSISupernet channels: {list(channels)!r}; expected 4 values (stem, 3 stages)")
        if mid_rule not in MID_RULES:
            raise ValueError(f"MSISupernet mid_rule: {mid_rule!r}; expected one of {', '.join(MID_RULES)}")
        self.op_names = tuple(op_names)
        self.mid_rule = mid_rule
        self.alpha = nn.Parameter(alpha_std * torch.randn(NUM_CELLS * IMS_PER_CELL, len(self.op_names)))

        self._build(channels, lambda cin, cout, i: self._cell(cin, cout, i, scale_ratio, fusion))

    def _cell(self, cin: int, cout: int, index: int, scale_ratio: Sequence[int], fusion: str) -> MSICell:
        mid = (cin if self.mid_rule == "in" else cout) // 4
        ims = [MixedInteraction(mid, self.alpha, IMS_PER_CELL * index + k, self.op_names)
               for k in range(IMS_PER_CELL)]
        return MSICell(cin, cout, ops=ims, fusion=fusion, scale_ratio=scale_ratio, mid_channels=mid)

    def arch_parameters(self) -> List[nn.Parameter]:
        """The architecture parameters (optimised by the search's Adam, never by the weight optimizer)."""
        return [self.alpha]

    def weight_parameters(self) -> List[nn.Parameter]:
        """Every parameter except the architecture parameters."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def mixed_interactions(self) -> List[MixedInteraction]:
        """The 12 IMs in alpha's row order."""
        return sorted((m for m in self.modules() if isinstance(m, MixedInteraction)), key=lambda m: m.index)

    @torch.no_grad()
    def arch_weights(self) -> torch.Tensor:
        """softmax(alpha) per IM, (12, num_ops), detached."""
        return F.softmax(self.alpha.detach(), dim=-1)

    def genotype(self) -> List[str]:
        """The op name of the largest alpha per IM (12 names, cells in order)."""
        return [self.op_names[int(i)] for i in self.alpha.detach().argmax(dim=-1)]


def derive_state_dict(state: Dict[str, torch.Tensor], genotype: Sequence[str],
                      op_names: Sequence[str] = OP_NAMES) -> Dict[str, torch.Tensor]:
    """Map a supernet state dict onto the fixed network of ``genotype`` (same widths).

    Keeps, for every IM, only the weights of its chosen op (``...interact1.ops.<k>.x`` becomes
    ``...interact1.x``) and drops ``alpha``. With ``mid_rule="out"`` the result loads strictly into
    ``MSINet(genotype)``.
    """
    cells = [(stage, idx) for stage in ("stage1", "stage2", "stage3") for idx in (0, 1)]
    chosen = {}
    for i, op in enumerate(genotype):
        stage, idx = cells[i // IMS_PER_CELL]
        chosen[f"{stage}.{idx}.interact{i % IMS_PER_CELL + 1}.ops."] = str(op_names.index(op)) + "."
    out = {}
    for key, value in state.items():
        if key == "alpha":
            continue
        prefix = next((p for p in chosen if key.startswith(p)), None)
        if prefix is None:
            out[key] = value
        elif key[len(prefix):].startswith(chosen[prefix]):
            out[prefix[: -len("ops.")] + key[len(prefix) + len(chosen[prefix]):]] = value
    return out


@BACKBONE_REGISTRY.register(name="msinet_supernet")
def build_msinet_supernet(cfg) -> MSISupernet:
    """Build the MSI supernet from MODEL.MSINET (channels, scale ratio, fusion) and SEARCH (width, alpha)."""
    return MSISupernet(
        channels=cfg.MODEL.MSINET.CHANNELS,
        scale_ratio=cfg.MODEL.MSINET.SCALE_RATIO,
        fusion=cfg.MODEL.MSINET.FUSION,
        mid_rule=cfg.SEARCH.MID_RULE,
        alpha_std=cfg.SEARCH.ALPHA_INIT_STD,
    )
