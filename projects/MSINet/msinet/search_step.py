"""The per-iteration step of the architecture search (first-order DARTS, MSINet Sec. 3.1 and 4.2).

:class:`SearchStep` is what ``SearchTrainer.build_train_step`` returns in place of the toolbox's
``SimpleTrainer`` (whose batches, loss check and metrics it keeps): each iteration draws a validation
batch, takes one :class:`ArchitectStep` on it when due (alpha only, Adam, the valid split's objective),
then one :func:`weight_step` on a training batch (weights only, SGD, the train split's objective).
Which iterations have an architecture step, whether the validation loss's gradient stays in the
weights and whether the validation stream restarts at each epoch are the protocol's
(``SEARCH.PROTOCOL``): the paper's or the authors' loop.
"""

from __future__ import annotations

import contextlib
import time
from typing import Mapping, Optional

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from fastreid.data.epoch_batches import EpochBatches
from fastreid.engine.train_loop import SimpleTrainer, TrainingDivergedError
from fastreid.utils import comm

from .search_objectives import SearchObjective

__all__ = ["ArchitectStep", "SearchStep", "weight_step"]


class ArchitectStep:
    """One architecture step on a validation batch.

    Args:
        model: the (possibly DDP-wrapped) search model; alpha sits inside it.
        optimizer: optimizer over the architecture parameters only (Adam in the paper).
        objective: the validation split's objective (valid memory for TCM).
        weight_optimizer: when given (the authors' loop), the validation loss's gradient also flows into
            the weights, for the weight step to add the training loss's to; when None (the paper),
            backpropagation stops at alpha.
        scheduler: ``optimizer``'s learning-rate schedule, kept with it (the trainer's "arch_lr" hook
            steps it once per iteration; the step itself does not).
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, objective: SearchObjective,
                 weight_optimizer: Optional[torch.optim.Optimizer] = None, scheduler=None) -> None:
        self.model = model
        self.optimizer = optimizer
        self.objective = objective
        self.weight_optimizer = weight_optimizer
        self.scheduler = scheduler

    def step(self, batch: Mapping[str, torch.Tensor]) -> float:
        """Architecture step on ``batch``, then the objective's after-step (memory update); returns the loss.

        Without a ``weight_optimizer`` no weight gradients are computed (which saves the weight-gradient
        half of the backward). Under DDP the backward runs outside the reducer (``no_sync``; weight
        gradients accumulated there are averaged with the weight step's) and alpha's gradient is
        averaged over the processes explicitly, as DDP averages the weights'.
        """
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.optimizer.zero_grad(set_to_none=True)
        ddp = isinstance(self.model, DistributedDataParallel)
        with self.model.no_sync() if ddp else contextlib.nullcontext():
            outputs = self.model(batch)
            loss = self.objective.loss(outputs, batch["targets"])
            if not torch.isfinite(loss):
                raise TrainingDivergedError(f"architecture loss became non-finite: {float(loss.detach())}")
            loss.backward(inputs=None if self.weight_optimizer is not None else params)
        if ddp:
            world = dist.get_world_size()
            for p in params:
                dist.all_reduce(p.grad)
                p.grad.div_(world)
        self.optimizer.step()
        self.objective.after_step(outputs, batch["targets"])
        return float(loss.detach())


def weight_step(model: nn.Module, optimizer: torch.optim.Optimizer, objective: SearchObjective,
                batch: Mapping[str, torch.Tensor], zero_grad: bool = True) -> torch.Tensor:
    """One weight step: forward ``batch``, the split's objective, backward, ``optimizer`` step (weights
    only; alpha's gradient is left for the next architecture step to clear), then the objective's
    after-step (memory update). ``zero_grad=False`` adds this loss's gradient to what the weights
    already hold (the authors' loop: the validation loss's). Returns the detached loss."""
    outputs = model(batch)
    loss = objective.loss(outputs, batch["targets"])
    if not torch.isfinite(loss):
        raise TrainingDivergedError(f"search weight loss became non-finite: {float(loss.detach())}")
    if zero_grad:
        optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    objective.after_step(outputs, batch["targets"])
    return loss.detach()


class SearchStep(SimpleTrainer):
    """Architecture step (when due) then weight step, every iteration; see the module docstring.

    Args:
        model, data_loader, optimizer: the search model, the train split's loader, the weights' SGD.
        objective: the train split's objective.
        architect: the architecture step (its objective is the valid split's).
        valid_batches: the valid split's batches (drawn every iteration, used or not, as the authors'
            loop does, so that the valid stream does not depend on when alpha steps).
        start_iter: first global iteration with an architecture step (the authors skip the first).
        skip_epoch_start: no architecture step at the first iteration of any epoch (the authors' loop).
        accumulate: the weight step adds its gradient to the validation loss's (the authors' loop; the
            weights' gradients are cleared at the start of every iteration instead).
        valid_per_epoch: the valid stream restarts at each epoch, as the training stream does (the
            paper's loop, exactly resumable per epoch); False: one stream for the whole run (the
            authors' single validation iterator; a resumed run continues it at its global iteration).
    """

    def __init__(self, model: nn.Module, data_loader, optimizer: torch.optim.Optimizer, objective: SearchObjective,
                 architect: ArchitectStep, valid_batches: EpochBatches, *, start_iter: int = 1,
                 skip_epoch_start: bool = False, accumulate: bool = False, valid_per_epoch: bool = True) -> None:
        super().__init__(model, data_loader, optimizer)
        self.objective = objective
        self.architect = architect
        self.valid_batches = valid_batches
        self.start_iter = int(start_iter)
        self.skip_epoch_start = bool(skip_epoch_start)
        self.accumulate = bool(accumulate)
        self.valid_per_epoch = bool(valid_per_epoch)
        self._stepped_epoch: Optional[int] = None  # the epoch of the last step: tells an epoch's first iteration

    def architecture_step_due(self) -> bool:
        """Whether this iteration has an architecture step (call once per iteration, before stepping)."""
        if self.iter < self.start_iter:
            return False
        return not (self.skip_epoch_start and self.epoch != self._stepped_epoch)

    def _next_valid(self):
        if self.valid_per_epoch:
            return self.valid_batches.next(self.epoch)
        return self.valid_batches.next(0, start_iter=self.iter)  # one batch per iteration so far

    def run_step(self) -> None:
        assert self.model.training, "SearchStep: the model was left in eval mode"
        valid = self._next_valid()
        if self.accumulate:
            self.optimizer.zero_grad(set_to_none=True)
        due = self.architecture_step_due()
        self._stepped_epoch = self.epoch
        if due:
            arch_loss = comm.reduce_dict({"arch_loss": torch.tensor(self.architect.step(valid))})["arch_loss"]
            if comm.is_main_process():
                self.storage.put_scalar("arch_loss", float(arch_loss))
        start = time.perf_counter()
        batch = self._next_batch()
        data_time = time.perf_counter() - start
        try:
            loss = weight_step(self.model, self.optimizer, self.objective, batch, zero_grad=not self.accumulate)
        except FloatingPointError as e:
            raise TrainingDivergedError(f"{e} (iteration {self.iter}, epoch {self.epoch})") from None
        self._write_metrics({"train_loss": loss}, data_time)
