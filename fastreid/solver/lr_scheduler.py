"""Learning-rate schedules stepped once per iteration.

``WarmupScheduler`` multiplies every group's base LR by a factor that is a closed-form function of the
iteration, so its state is just the iteration count and a resumed run reproduces the schedule exactly:

- warm-up: "linear" rises from ``warmup_factor`` to 1, "constant" holds ``warmup_factor``; stepped
  every iteration (``warmup_iters`` long) or once per epoch (``warmup_epochs`` long, one value per
  epoch: the MSINet authors' scheduler, which steps at each epoch's end);
- then "MultiStepLR": ``gamma ** (number of milestones <= epoch)`` with milestones in epochs, or
  "CosineAnnealingLR": constant until ``max(warmup, delay_epochs)`` then a half cosine from the base LR
  to ``eta_min`` (absolute LR) at the last iteration.
Epochs are :class:`EpochLengths`: the same number of iterations each, or each its own (an epoch that is
one pass of an identity sampler), so epoch milestones follow the epochs as the run has them.
The MSINet recipe: warmup_factor 0.01, 10 epochs linear, milestones (150, 225, 300), gamma 0.1.
"""

from __future__ import annotations

import bisect
import math
from typing import Any, Dict, List, Sequence, Union

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from fastreid.utils.errors import ConfigValueError

__all__ = ["WarmupScheduler", "EpochLengths", "SCHEDULES", "WARMUP_METHODS", "WARMUP_STEPPINGS"]

SCHEDULES = ("MultiStepLR", "CosineAnnealingLR")
WARMUP_METHODS = ("linear", "constant")
WARMUP_STEPPINGS = ("iteration", "epoch")


class EpochLengths:
    """How many iterations each epoch has, and where each starts.

    ``EpochLengths(200)``: 200 iterations in every epoch. ``EpochLengths([15, 17, 16])``: each epoch its
    own length (epoch 0 is iterations 0-14, epoch 1 is 15-31, ...); past the end of the list its last
    length repeats, so every iteration belongs to an epoch. Accepts another ``EpochLengths`` as is.
    """

    def __init__(self, iters_per_epoch: Union[int, Sequence[int], "EpochLengths"]) -> None:
        if isinstance(iters_per_epoch, EpochLengths):
            lengths = list(iters_per_epoch.lengths)
        elif isinstance(iters_per_epoch, Sequence):
            lengths = [int(n) for n in iters_per_epoch]
        else:
            lengths = [int(iters_per_epoch)]
        if not lengths or min(lengths) < 1:
            raise ValueError(f"iters_per_epoch: {iters_per_epoch}; expected iterations >= 1 for every epoch")
        self.lengths = lengths
        self._starts = [0]
        for n in lengths:
            self._starts.append(self._starts[-1] + n)

    def length(self, epoch: int) -> int:
        """Iterations of ``epoch``."""
        return self.lengths[min(epoch, len(self.lengths) - 1)]

    def start(self, epoch: int) -> int:
        """Global iteration at which ``epoch`` starts (= iterations of the epochs before it)."""
        n = len(self.lengths)
        if epoch <= n:
            return self._starts[epoch]
        return self._starts[n] + (epoch - n) * self.lengths[-1]

    def epoch_of(self, it: int) -> int:
        """The epoch that global iteration ``it`` belongs to."""
        n = len(self.lengths)
        if it < self._starts[n]:
            return bisect.bisect_right(self._starts, it) - 1
        return n + (it - self._starts[n]) // self.lengths[-1]


class WarmupScheduler(LRScheduler):
    """Warm-up followed by multi-step or cosine decay; stepped once per iteration.

    Args:
        optimizer: the optimizer whose groups' ``initial_lr`` are scaled.
        iters_per_epoch: iterations in one epoch, or each epoch's (a sequence, or :class:`EpochLengths`);
            converts epochs (milestones, a per-epoch warm-up) to iterations.
        max_iter: total training iterations (end of the cosine).
        schedule: "MultiStepLR" or "CosineAnnealingLR".
        milestones: epochs at which MultiStepLR multiplies the LR by ``gamma``.
        gamma: MultiStepLR decay factor.
        delay_iters: iterations at full LR before the cosine starts (after warm-up).
        eta_min: final absolute LR of the cosine.
        warmup_iters: warm-up length in iterations (0 = none); with ``warmup_stepping`` "epoch" it must be 0.
        warmup_factor: LR factor at the first iteration (or epoch) of the warm-up.
        warmup_method: "linear" or "constant".
        warmup_stepping: "iteration" (the factor changes every iteration) or "epoch" (once per epoch:
            epoch ``e < warmup_epochs`` has the factor of ``e / warmup_epochs`` of the way).
        warmup_epochs: warm-up length in epochs, with ``warmup_stepping`` "epoch".
    """

    def __init__(self, optimizer: Optimizer, *, iters_per_epoch: Union[int, Sequence[int], EpochLengths],
                 max_iter: int, schedule: str = "MultiStepLR", milestones: Sequence[int] = (), gamma: float = 0.1,
                 delay_iters: int = 0, eta_min: float = 0.0, warmup_iters: int = 0,
                 warmup_factor: float = 0.1, warmup_method: str = "linear", warmup_stepping: str = "iteration",
                 warmup_epochs: int = 0, last_epoch: int = -1) -> None:
        if schedule not in SCHEDULES:
            raise ConfigValueError(f"SOLVER.SCHED: '{schedule}' is not a schedule; expected one of {', '.join(SCHEDULES)}")
        if warmup_method not in WARMUP_METHODS:
            raise ConfigValueError(
                f"SOLVER.WARMUP_METHOD: '{warmup_method}' is not a warm-up method; expected one of "
                f"{', '.join(WARMUP_METHODS)}"
            )
        if warmup_stepping not in WARMUP_STEPPINGS:
            raise ConfigValueError(
                f"SOLVER.WARMUP_STEPPING: {warmup_stepping!r} is not a warm-up stepping; expected one of "
                f"{', '.join(WARMUP_STEPPINGS)}"
            )
        if warmup_stepping == "epoch" and warmup_iters > 0:
            raise ConfigValueError(
                f"SOLVER.WARMUP_ITERS: {warmup_iters} iterations, but SOLVER.WARMUP_STEPPING 'epoch' warms up in "
                "whole epochs; expected 0 (and the length in SOLVER.WARMUP_EPOCHS)"
            )
        if list(milestones) != sorted(milestones):
            raise ConfigValueError(f"SOLVER.STEPS: {list(milestones)} must be increasing epochs")
        self.epochs = EpochLengths(iters_per_epoch)
        self.max_iter = int(max_iter)
        self.schedule = schedule
        self.milestones = [int(m) for m in milestones]
        self.gamma = float(gamma)
        self.delay_iters = int(delay_iters)
        self.eta_min = float(eta_min)
        self.warmup_factor = float(warmup_factor)
        self.warmup_method = warmup_method
        self.warmup_stepping = warmup_stepping
        self.warmup_epochs = int(warmup_epochs) if warmup_stepping == "epoch" else 0
        # the warm-up ends at this iteration either way
        self.warmup_iters = self.epochs.start(self.warmup_epochs) if warmup_stepping == "epoch" else int(warmup_iters)
        super().__init__(optimizer, last_epoch)

    def warmup_multiplier(self, it: int) -> float:
        """Warm-up factor at iteration ``it`` (1 once warm-up is over)."""
        if it >= self.warmup_iters:
            return 1.0
        if self.warmup_method == "constant":
            return self.warmup_factor
        if self.warmup_stepping == "epoch":
            alpha = self.epochs.epoch_of(it) / self.warmup_epochs
        else:
            alpha = it / self.warmup_iters
        return self.warmup_factor * (1.0 - alpha) + alpha

    def _lr_at(self, base_lr: float, it: int) -> float:
        warm = self.warmup_multiplier(it)
        if self.schedule == "MultiStepLR":
            epoch = self.epochs.epoch_of(it)
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
