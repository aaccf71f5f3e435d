"""The training loop: hooks, an epoch/iteration driver and the step of plain and mixed-precision SGD.

Call order for ``TrainerBase.train(start_epoch, max_epoch, iters_per_epoch)``::

    before_train
    for epoch in [start_epoch, max_epoch):
        before_epoch
        for each of the epoch's iterations: before_step, run_step, after_step
        after_epoch
    after_train            (always, in a ``finally``)

``iters_per_epoch`` is one length for every epoch, or each epoch's own (a sequence: an epoch that is one
pass of an identity sampler); ``iter`` counts iterations over the whole run either way.

SIGTERM (a scheduler's or ``kill``'s stop) is turned into ``KeyboardInterrupt`` (:class:`Terminated`,
which names the signal) while training runs, so it ends a run exactly as Ctrl-C does: the hooks'
``after_train`` saves what is needed to resume; the entry points then print one line and exit with the
signal's conventional status (130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
import weakref
from typing import Dict, Iterator, List, Optional, Sequence, Union

import torch
import torch.nn as nn

from fastreid.data.epoch_batches import EpochBatches
from fastreid.solver.lr_scheduler import EpochLengths
from fastreid.utils import comm
from fastreid.utils.errors import UserError
from fastreid.utils.events import EventStorage

__all__ = ["HookBase", "TrainerBase", "SimpleTrainer", "AMPTrainer", "TrainingDivergedError", "Terminated"]

logger = logging.getLogger(__name__)


class TrainingDivergedError(UserError, FloatingPointError):
    """The training loss became NaN or infinite (usually a learning rate too high for the recipe)."""


class Terminated(KeyboardInterrupt):
    """A stop by a signal other than SIGINT (SIGTERM), raised as Ctrl-C's ``KeyboardInterrupt`` so that a
    run ends the same way; ``signum`` says which signal it was."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signal.Signals(signum).name}")
        self.signum = int(signum)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (a ``KeyboardInterrupt``) in the main thread
    (no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def worker_exits_ignored() -> Iterator[None]:
    """Within the block, a data-loader worker that exits does not raise in this process.

    A signal sent to the whole process group (Ctrl-C in a terminal, ``kill`` of a job, a cluster
    scheduler's SIGTERM) also ends the loader's workers, and PyTorch's SIGCHLD handler would then
    raise in the middle of the final checkpoint save; the run is stopping anyway, so the save wins.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGCHLD"):
        yield
        return
    previous = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGCHLD, previous)


class HookBase:
    """A callback of the training loop; ``self.trainer`` is set (as a weak proxy) on registration.

    Keep ``before_step``/``after_step`` cheap: they run every iteration.
    """

    trainer: "TrainerBase"

    def before_train(self) -> None:
        pass

    def after_train(self) -> None:
        pass

    def before_epoch(self) -> None:
        pass

    def after_epoch(self) -> None:
        pass

    def before_step(self) -> None:
        pass

    def after_step(self) -> None:
        pass


class TrainerBase:
    """Runs hooks around ``run_step`` for a number of epochs of ``iters_per_epoch`` iterations.

    Attributes: ``iter`` (global iteration of the current/next step), ``epoch``, ``start_iter``,
    ``max_iter``, ``iters_per_epoch`` (as given to ``train``), ``storage`` (the run's EventStorage).
    At ``after_epoch`` the last epoch is the one with ``iter >= max_iter``.
    """

    def __init__(self) -> None:
        self._hooks: List[HookBase] = []
        self.iter = 0
        self.epoch = 0
        self.start_iter = 0
        self.max_iter = 0
        self.iters_per_epoch = 0
        self.storage: Optional[EventStorage] = None

    def register_hooks(self, hooks: List[Optional[HookBase]]) -> None:
        """Append ``hooks`` (None entries dropped); they run in registration order."""
        hooks = [h for h in hooks if h is not None]
        for h in hooks:
            h.trainer = weakref.proxy(self)
        self._hooks.extend(hooks)

    def train(self, start_epoch: int, max_epoch: int, iters_per_epoch: Union[int, Sequence[int]]) -> None:
        """Train epochs ``start_epoch .. max_epoch - 1`` (``iters_per_epoch``: see the module docstring)."""
        epochs = EpochLengths(iters_per_epoch)
        self.iters_per_epoch = iters_per_epoch
        self.iter = self.start_iter = epochs.start(start_epoch)
        self.max_iter = epochs.start(max_epoch)
        self.epoch = start_epoch
        logger.info("Starting training from epoch %d (iteration %d) to epoch %d", start_epoch, self.iter, max_epoch)
        with EventStorage(self.start_iter) as self.storage, sigterm_as_interrupt():
            try:
                self.before_train()
                for self.epoch in range(start_epoch, max_epoch):
                    self.before_epoch()
                    for _ in range(epochs.length(self.epoch)):
                        self.before_step()
                        self.run_step()
                        self.after_step()
                        self.iter += 1
                    self.after_epoch()
            except KeyboardInterrupt as e:
                name = signal.Signals(getattr(e, "signum", signal.SIGINT)).name
                logger.warning("Stopped by %s at epoch %d, iteration %d", name, self.epoch, self.iter)
                raise
            except Exception as e:
                from fastreid.utils.errors import user_errors

                if isinstance(e, user_errors()):  # the entry point reports it in one line
                    logger.error("Stopped at epoch %d, iteration %d by a problem with the input", self.epoch,
                                 self.iter)
                else:
                    logger.exception("Exception during training (epoch %d, iteration %d):", self.epoch, self.iter)
                raise
            finally:
                with worker_exits_ignored():
                    self.after_train()

    def before_train(self) -> None:
        for h in self._hooks:
            h.before_train()

    def after_train(self) -> None:
        self.storage.iter = self.iter
        for h in self._hooks:
            h.after_train()

    def before_epoch(self) -> None:
        self.storage.epoch = self.epoch
        for h in self._hooks:
            h.before_epoch()

    def after_epoch(self) -> None:
        self.storage.iter = self.iter - 1
        for h in self._hooks:
            h.after_epoch()

    def before_step(self) -> None:
        self.storage.iter = self.iter
        for h in self._hooks:
            h.before_step()

    def after_step(self) -> None:
        for h in self._hooks:
            h.after_step()

    def run_step(self) -> None:
        raise NotImplementedError


class SimpleTrainer(TrainerBase):
    """One optimisation step per iteration: ``loss_dict = model(batch)``, sum, backward, step.

    The step of a ``DefaultTrainer`` (its ``build_train_step``); a trainer with another per-iteration
    step (the architecture search's) subclasses it and overrides ``run_step``, keeping the batches
    (``_next_batch``, exact per-epoch restarts through :class:`~fastreid.data.epoch_batches.EpochBatches`),
    the loss check (``_total``) and the metrics (``_write_metrics``, which also warns once when the loss
    has grown 100x: every step reports its losses there).
    """

    def __init__(self, model: nn.Module, data_loader, optimizer: torch.optim.Optimizer) -> None:
        super().__init__()
        model.train()
        self.model = model
        self.data_loader = data_loader
        self.optimizer = optimizer
        self._batches = EpochBatches(data_loader)
        self._first_loss: Optional[float] = None
        self._warned_growth = False

    def _next_batch(self):
        return self._batches.next(self.epoch)

    def set_data_loader(self, data_loader) -> None:
        """Take batches from ``data_loader`` from now on (its stream starts afresh at the next batch).

        What :meth:`DefaultTrainer.replace_train_set` calls between epochs; the old loader's workers
        end when it is garbage-collected."""
        self.data_loader = data_loader
        self._batches = EpochBatches(data_loader)

    def run_step(self) -> None:
        assert self.model.training, "SimpleTrainer: the model was left in eval mode"
        start = time.perf_counter()
        data = self._next_batch()
        data_time = time.perf_counter() - start
        loss_dict = self.model(data)
        losses = self._total(loss_dict)
        self.optimizer.zero_grad(set_to_none=True)
        losses.backward()
        self._write_metrics(loss_dict, data_time)
        self.optimizer.step()

    def _total(self, loss_dict: Dict[str, torch.Tensor]) -> torch.Tensor:
        if not isinstance(loss_dict, dict) or not loss_dict:
            raise TypeError(f"the model must return a non-empty dict of loss tensors in training, got {type(loss_dict)}")
        total = sum(loss_dict.values())
        if not torch.isfinite(total).all():
            terms = ", ".join(f"{k}={float(v.detach()):.6g}" for k, v in loss_dict.items())
            raise TrainingDivergedError(
                f"loss became non-finite at iteration {self.iter} (epoch {self.epoch}): "
                f"total={float(total.detach()):.6g}; terms: {terms}; expected a lower SOLVER.BASE_LR or a longer "
                "warm-up"
            )
        return total

    def _check_growth(self, value: float) -> None:
        """Warn once when the (total) loss is over 100x its first value, and over 1e3."""
        if self._first_loss is None:
            self._first_loss = value
        elif not self._warned_growth and value > max(100 * abs(self._first_loss), 1e3):
            self._warned_growth = True
            logger.warning("The loss is %.3g at iteration %d, over 100x its first value %.3g: training is diverging; "
                           "a lower SOLVER.BASE_LR or a longer warm-up usually helps", value, self.iter, self._first_loss)

    def _write_metrics(self, loss_dict: Dict[str, torch.Tensor], data_time: float) -> None:
        values = {k: v.detach().float() for k, v in loss_dict.items()}
        values = comm.reduce_dict(values)
        if comm.is_main_process():
            total = sum(float(v) for v in values.values())
            self._check_growth(total)
            self.storage.put_scalar("data_time", data_time)
            self.storage.put_scalar("total_loss", total)
            for k, v in values.items():
                self.storage.put_scalar(k, v)


class AMPTrainer(SimpleTrainer):
    """SimpleTrainer with CUDA autocast and a GradScaler.

    On a model whose parameters are not on a CUDA device it logs a warning and trains in fp32
    exactly like SimpleTrainer (``grad_scaler`` is then None).
    """

    def __init__(self, model: nn.Module, data_loader, optimizer: torch.optim.Optimizer, grad_scaler=None) -> None:
        super().__init__(model, data_loader, optimizer)
        first = next(model.parameters(), None)
        self.enabled = first is not None and first.device.type == "cuda"
        if not self.enabled:
            logger.warning("SOLVER.AMP.ENABLED: mixed precision needs CUDA; the model is on the CPU, so "
                           "training runs in fp32 without a grad scaler")
            self.grad_scaler = None
        else:
            self.grad_scaler = grad_scaler or torch.amp.GradScaler("cuda")

    def run_step(self) -> None:
        if not self.enabled:
            return super().run_step()
        assert self.model.training, "AMPTrainer: the model was left in eval mode"
        start = time.perf_counter()
        data = self._next_batch()
        data_time = time.perf_counter() - start
        with torch.autocast(device_type="cuda"):
            loss_dict = self.model(data)
            losses = self._total(loss_dict)
        self.optimizer.zero_grad(set_to_none=True)
        self.grad_scaler.scale(losses).backward()
        self._write_metrics(loss_dict, data_time)
        self.grad_scaler.step(self.optimizer)
        self.grad_scaler.update()
