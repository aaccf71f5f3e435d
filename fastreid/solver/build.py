"""Optimizer and LR-scheduler builders.

``build_optimizer`` groups parameters by their hyper-parameters:
- biases: LR x ``BIAS_LR_FACTOR``, weight decay ``WEIGHT_DECAY_BIAS``;
- parameters of normalisation layers (BatchNorm, GroupNorm, LayerNorm, InstanceNorm): weight decay
  ``WEIGHT_DECAY_NORM`` (their bias also gets the bias LR factor);
- parameters under a module named ``heads``: LR x ``HEADS_LR_FACTOR``;
- parameters with ``requires_grad=False`` and those returned by any submodule's ``arch_parameters()``
  (e.g. the MSINet supernet's alpha, optimised separately) are left out.
Parameters under ``MODEL.FREEZE_LAYERS`` get no update for the first ``SOLVER.FREEZE_ITERS`` steps, and
gradients are clipped first when ``SOLVER.CLIP_GRADIENTS.ENABLED``.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Set, Type, Union

import torch
import torch.nn as nn

from fastreid.utils.errors import ConfigValueError

from .lr_scheduler import EpochLengths, WarmupScheduler

__all__ = ["build_optimizer", "build_lr_scheduler", "get_param_groups", "OPTIMIZERS"]

logger = logging.getLogger(__name__)

OPTIMIZERS: Dict[str, Type[torch.optim.Optimizer]] = {
    "SGD": torch.optim.SGD, "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW,
}
_NORM_TYPES = (
    nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm,
    nn.LocalResponseNorm,
)


def _arch_param_ids(model: nn.Module) -> Set[int]:
    ids: Set[int] = set()
    for m in model.modules():
        fn = getattr(m, "arch_parameters", None)
        if callable(fn):
            ids.update(id(p) for p in fn())
    return ids


def _is_frozen_name(name: str, freeze_layers: Sequence[str]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in freeze_layers)


def get_param_groups(model: nn.Module, *, base_lr: float, weight_decay: float, weight_decay_norm: float,
                     weight_decay_bias: float, bias_lr_factor: float = 1.0, heads_lr_factor: float = 1.0,
                     freeze_layers: Sequence[str] = ()) -> List[Dict[str, Any]]:
    """Trainable parameters grouped by (lr, weight_decay, freeze); each group lists its ``names``."""
    skip = _arch_param_ids(model)
    seen: Set[int] = set()
    groups: Dict[tuple, Dict[str, Any]] = {}
    for mod_name, module in model.named_modules():
        for p_name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in skip or id(p) in seen:
                continue
            seen.add(id(p))
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            lr, wd = base_lr, weight_decay
            if isinstance(module, _NORM_TYPES):
                wd = weight_decay_norm
            if p_name == "bias":
                lr *= bias_lr_factor
                wd = weight_decay_norm if isinstance(module, _NORM_TYPES) else weight_decay_bias
            if "heads" in full.split("."):
                lr *= heads_lr_factor
            freeze = _is_frozen_name(full, freeze_layers)
            group = groups.setdefault((lr, wd, freeze), {
                "params": [], "names": [], "lr": lr, "weight_decay": wd, "freeze": freeze,
            })
            group["params"].append(p)
            group["names"].append(full)
    return list(groups.values())


def _clip_fn(cfg):
    clip = cfg.SOLVER.CLIP_GRADIENTS
    if not clip.ENABLED:
        return None
    if clip.CLIP_TYPE == "norm":
        return lambda params: torch.nn.utils.clip_grad_norm_(params, clip.CLIP_VALUE, clip.NORM_TYPE)
    if clip.CLIP_TYPE == "value":
        return lambda params: torch.nn.utils.clip_grad_value_(params, clip.CLIP_VALUE)
    raise ConfigValueError(f"SOLVER.CLIP_GRADIENTS.CLIP_TYPE: '{clip.CLIP_TYPE}' is not valid; expected norm or value")


def _extend_optimizer(base: Type[torch.optim.Optimizer], clip, freeze_iters: int):
    """A subclass of ``base`` whose ``step`` clips gradients and skips frozen groups early on.

    The number of steps taken is part of its state_dict, so freezing resumes correctly.
    """

    class _Extended(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.num_steps = 0

        def step(self, closure=None):
            if clip is not None:
                clip([p for g in self.param_groups for p in g["params"] if p.grad is not None])
            if self.num_steps < freeze_iters:
                for g in self.param_groups:
                    if g.get("freeze"):
                        for p in g["params"]:
                            p.grad = None
            self.num_steps += 1
            return super().step(closure)

        def state_dict(self):
            state = super().state_dict()
            state["num_steps"] = self.num_steps
            return state

        def load_state_dict(self, state_dict):
            state_dict = dict(state_dict)
            self.num_steps = int(state_dict.pop("num_steps", 0))
            super().load_state_dict(state_dict)

    _Extended.__name__ = _Extended.__qualname__ = base.__name__
    return _Extended


def build_optimizer(cfg, model: nn.Module) -> torch.optim.Optimizer:
    """``cfg.SOLVER.OPT`` (SGD, Adam or AdamW) over the grouped trainable parameters of ``model``."""
    s = cfg.SOLVER
    if s.OPT not in OPTIMIZERS:
        raise ConfigValueError(f"SOLVER.OPT: '{s.OPT}' is not an optimizer; expected one of {', '.join(OPTIMIZERS)}")
    freeze_layers = list(cfg.MODEL.FREEZE_LAYERS) if s.FREEZE_ITERS > 0 else []
    _check_freeze_layers(model, freeze_layers)
    groups = get_param_groups(
        model, base_lr=s.BASE_LR, weight_decay=s.WEIGHT_DECAY, weight_decay_norm=s.WEIGHT_DECAY_NORM,
        weight_decay_bias=s.WEIGHT_DECAY_BIAS, bias_lr_factor=s.BIAS_LR_FACTOR,
        heads_lr_factor=s.HEADS_LR_FACTOR, freeze_layers=freeze_layers,
    )
    if not groups:
        raise ValueError("build_optimizer: the model has no trainable parameters")
    cls = _extend_optimizer(OPTIMIZERS[s.OPT], _clip_fn(cfg), s.FREEZE_ITERS if freeze_layers else 0)
    if s.OPT == "SGD":
        opt = cls(groups, lr=s.BASE_LR, momentum=s.MOMENTUM, nesterov=s.NESTEROV)
    else:
        opt = cls(groups, lr=s.BASE_LR, betas=(s.MOMENTUM, 0.999))
    logger.info("Optimizer %s: %d parameter groups, %d tensors", s.OPT, len(groups),
                sum(len(g["params"]) for g in groups))
    return opt


def _check_freeze_layers(model: nn.Module, names: Sequence[str]) -> None:
    children = dict(model.named_children())
    for n in names:
        if n.split(".")[0] not in children:
            raise ConfigValueError(
                f"MODEL.FREEZE_LAYERS: '{n}' is not a submodule of the model; expected one of "
                f"{', '.join(children) or '(none)'}"
            )


def build_lr_scheduler(cfg, optimizer: torch.optim.Optimizer, iters_per_epoch: Union[int, Sequence[int]],
                       max_epoch: Optional[int] = None) -> WarmupScheduler:
    """The per-iteration schedule of ``cfg.SOLVER`` (warm-up, then MultiStepLR or cosine).

    ``iters_per_epoch``: one length for every epoch, or each epoch's (epochs of their own length, e.g.
    one pass of an identity sampler each); epoch milestones follow the epochs as they fall. A warm-up
    stepped per iteration lasts ``max(WARMUP_ITERS, the first WARMUP_EPOCHS epochs)`` iterations; one
    stepped per epoch (``WARMUP_STEPPING epoch``; "" means "iteration") lasts ``WARMUP_EPOCHS`` epochs.
    """
    s = cfg.SOLVER
    max_epoch = s.MAX_EPOCH if max_epoch is None else max_epoch
    epochs = EpochLengths(iters_per_epoch)
    stepping = s.WARMUP_STEPPING or "iteration"
    per_epoch = stepping == "epoch"
    return WarmupScheduler(
        optimizer, iters_per_epoch=epochs, max_iter=epochs.start(max_epoch), schedule=s.SCHED,
        milestones=s.STEPS, gamma=s.GAMMA, delay_iters=epochs.start(s.DELAY_EPOCHS), eta_min=s.ETA_MIN_LR,
        warmup_iters=s.WARMUP_ITERS if per_epoch else max(s.WARMUP_ITERS, epochs.start(s.WARMUP_EPOCHS)),
        warmup_factor=s.WARMUP_FACTOR, warmup_method=s.WARMUP_METHOD, warmup_stepping=stepping,
        warmup_epochs=s.WARMUP_EPOCHS,
    )
