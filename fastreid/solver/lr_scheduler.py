"""Learning-rate schedules stepped once per iteration.

``WarmupScheduler`` multiplies every group's base LR by a factor that is a closed-form function of the
iteration, so its state is just the iteration count and a resumed run reproduces the schedule exactly:

- warm-up for ``warmup_iters`` iterations: "linear" rises from ``warmup_factor`` to 1, "constant"
  holds ``warmup_factor``;
- then "MultiStepLR": ``gamma ** (number of milestones <= epoch)`` with milestones in epochs, or
  "CosineAnnealingLR": constant until ``max(warmup, delay_epochs)`` then a half cosine from the base LR
  to ``eta_min`` (absolute LR) at the last iteration.
The MSINet recipe: warmup_factor 0.01, 10 epochs linear, milestones (150, 225, 300), gamma 0.1.
"""

from __future__ import annotations

import bisect
import math
from typing import Any, Dict, List, Sequence

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from fastreid.utils.errors import ConfigValueError

__all__ = ["WarmupScheduler", "SCHEDULES", "WARMUP_METHODS"]

SCHEDULES = ("MultiStepLR", "CosineAnnealingLR")
WARMUP_METHODS = ("linear", "constant")


class WarmupScheduler(LRScheduler):
    """Warm-up followed by multi-step or cosine decay, all counted in iterations.

    Args:
        optimizer: the optimizer whose groups' ``initial_lr`` are scaled.
        iters_per_epoch: iterations in one epoch (converts epoch milestones to iterations).
        max_iter: total training iterations (end of the cosine).
        schedule: "MultiStepLR" or "CosineAnnealingLR".
        milestones: epochs at which MultiStepLR multiplies the LR by ``gamma``.
        gamma: MultiStepLR decay factor.
        delay_iters: iterations at full LR before the cosine starts (after warm-up).
        eta_min: final absolute LR of the cosine.
        warmup_iters: warm-up length in iterations (0 = none).
        warmup_factor: LR factor at iteration 0 of the warm-up.
        warmup_method: "linear" or "constant".
    """

    def __init__(self, optimizer: Optimizer, *, iters_per_epoch: int, max_iter: int,
                 schedule: str = "MultiStepLR", milestones: Sequence[int] = (), gamma: float = 0.1,
                 delay_iters: int = 0, eta_min: float = 0.0, warmup_iters: int = 0,
                 warmup_factor: float = 0.1, warmup_method: str = "linear", last_epoch: int = -1) -> None:
        if schedule not in SCHEDULES:
            raise ConfigValueError(f"SOLVER.SCHED: '{schedule}' is not a schedule; expected one of {', '.join(SCHEDULES)}")
        if warmup_method not in WARMUP_METHODS:
            raise ConfigValueError(
                f"SOLVER.WARMUP_METHOD: '{warmup_method}' is not a warm-up method; expected one of "
                f"{', '.join(WARMUP_METHODS)}"
            )
        if list(milestones) != sorted(milestones):
            raise ConfigValueError(f"SOLVER.STEPS: {list(milestones)} must be increasing epochs")
        if iters_per_epoch < 1:
            raise ValueError(f"iters_per_epoch: {iters_per_epoch} must be >= 1")
        self.iters_per_epoch = int(iters_per_epoch)
        self.max_iter = int(max_iter)
        self.schedule = schedule
        self.milestones = [int(m) for m in milestones]
        self.gamma = float(gamma)
        self.delay_iters = int(delay_iters)
        self.eta_min = float(eta_min)
        self.warmup_iters = int(warmup_iters)
        self.warmup_factor = float(warmup_factor)
        self.warmup_method = warmup_method
        super().__init__(optimizer, last_epoch)

    def warmup_multiplier(self, it: int) -> float:
        """Warm-up factor at iteration ``it`` (1 once warm-up is over)."""
        if it >= self.warmup_iters:
            return 1.0
        if self.warmup_method == "constant":
            return self.warmup_factor
        alpha = it / self.warmup_iters
        return self.warmup_factor * (1.0 - alpha) + alpha

    def _lr_at(self, base_lr: float, it: int) -> float:
        warm = self.warmup_multiplier(it)
        if self.schedule == "MultiStepLR":
            epoch = it // self.iters_per_epoch
            return base_lr * warm * self.gamma ** bisect.bisect_right(self.milestones, epoch)
        start = max(self.warmup_iters, self.delay_iters)
        if it < start or self.max_iter <= start:
            return base_lr * warm
        progress = min((it - start) / (self.max_iter - start), 1.0)
        return self.eta_min + (base_lr - self.eta_min) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def get_lr(self) -> List[float]:
        return [self._lr_at(base, self.last_epoch) for base in self.base_lrs]

    def _get_closed_form_lr(self) -> List[float]:
        return self.get_lr()

    # Only the position is state: the schedule (base LR, steps, warm-up, length) comes from the config, so
    # a resumed run with a changed schedule follows the new config from the saved iteration on (the
    # trainer says so); with the same config it continues exactly.
    _STATE_KEYS = ("last_epoch", "_step_count")

    def state_dict(self) -> Dict[str, Any]:
        return {k: self.__dict__[k] for k in self._STATE_KEYS if k in self.__dict__}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.__dict__.update({k: v for k, v in state_dict.items() if k in self._STATE_KEYS})
        # the optimizer's restored lr belongs to the old position of the old schedule: set this one's
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = lrs
