"""The LOSS registry.

A registered entry is a builder ``fn(cfg) -> nn.Module``. The module's
``forward(outputs: Dict[str, Any], targets: LongTensor (B,)) -> Dict[str, Tensor]`` returns named,
already-weighted scalar terms (``"loss_cls"``, ``"loss_triplet"``, ...). ``outputs`` is the head's
training dict plus ``"backbone_features"`` (the backbone's ``Dict[str, Tensor]``). A loss may own
parameters (MSINet's Spatial Alignment Module does); they are trained and checkpointed with the model
and cost nothing at inference.
"""

from __future__ import annotations

import torch.nn as nn

from fastreid.utils.errors import ConfigValueError
from fastreid.utils.registry import Registry

__all__ = ["LOSS_REGISTRY", "build_losses"]

LOSS_REGISTRY = Registry("LOSS")
LOSS_REGISTRY.__doc__ = __doc__


def build_losses(cfg) -> nn.ModuleDict:
    """Build every loss named in ``cfg.MODEL.LOSSES.NAME`` (unknown names are rejected)."""
    names = list(cfg.MODEL.LOSSES.NAME)
    if not names:
        raise ConfigValueError("MODEL.LOSSES.NAME is empty; name at least one registered loss")
    return nn.ModuleDict({name: LOSS_REGISTRY.get(name)(cfg) for name in names})
