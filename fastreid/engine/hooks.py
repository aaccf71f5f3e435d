"""The default training hooks, in the order ``DefaultTrainer.build_hooks`` registers them."""

from __future__ import annotations

import datetime
import logging
import math
import os
import re
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from fastreid.utils import comm
from fastreid.utils.checkpoint import Checkpointer
from fastreid.utils.comm import unwrap_model
from fastreid.utils.errors import ConfigValueError
from fastreid.utils.events import EventWriter

from .train_loop import HookBase

__all__ = [
    "CallbackHook", "IterationTimer", "LRScheduler", "PreciseBN", "LayerFreeze", "EvalHook",
    "PeriodicCheckpointer", "BestCheckpointer", "PeriodicWriter", "extract_metric",
]

logger = logging.getLogger(__name__)


class CallbackHook(HookBase):
    """A hook built from plain functions, each called with the trainer."""

    def __init__(self, **callbacks: Callable) -> None:
        allowed = {"before_train", "after_train", "before_epoch", "after_epoch", "before_step", "after_step"}
        unknown = set(callbacks) - allowed
        if unknown:
            raise TypeError(f"CallbackHook: unknown stages {sorted(unknown)}; expected some of {sorted(allowed)}")
        self._callbacks = callbacks

    def _call(self, stage: str) -> None:
        fn = self._callbacks.get(stage)
        if fn is not None:
            fn(self.trainer)

    def before_train(self):
        self._call("before_train")

    def after_train(self):
        self._call("after_train")

    def before_epoch(self):
        self._call("before_epoch")

    def after_epoch(self):
        self._call("after_epoch")

    def before_step(self):
        self._call("before_step")

    def after_step(self):
        self._call("after_step")


class IterationTimer(HookBase):
    """Records the wall time of every step as the "time" scalar and logs the run's speed at the end."""

    def __init__(self, warmup_iter: int = 3) -> None:
        self._warmup = warmup_iter
        self._start = 0.0
        self._timed = 0.0
        self._timed_iters = 0

    def before_step(self):
        self._start = time.perf_counter()

    def after_step(self):
        elapsed = time.perf_counter() - self._start
        if self.trainer.iter - self.trainer.start_iter >= self._warmup:
            self._timed += elapsed
            self._timed_iters += 1
        self.trainer.storage.put_scalar("time", elapsed)

    def after_train(self):
        if self._timed_iters:
            per = self._timed / self._timed_iters
            logger.info("Overall training speed: %d iterations in %s (%.4f s / it)", self._timed_iters,
                        datetime.timedelta(seconds=int(self._timed)), per)


class LRScheduler(HookBase):
    """Records the LR used by each step (as ``name``, largest group) and steps the scheduler once per
    step, whether or not the optimizer stepped in it (an optimizer that skips an iteration on purpose,
    as the search's architecture step does, keeps its schedule aligned with the iterations)."""

    def __init__(self, optimizer: torch.optim.Optimizer, scheduler, name: str = "lr") -> None:
        self._optimizer = optimizer
        self._scheduler = scheduler
        self._name = name

    def after_step(self):
        lr = max(g["lr"] for g in self._optimizer.param_groups)
        self.trainer.storage.put_scalar(self._name, lr, smoothing_hint=False)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
            self._scheduler.step()


def _bn_modules(model: nn.Module) -> List[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
            and m.track_running_stats]


@torch.no_grad()
def update_bn_stats(model: nn.Module, batches, num_iter: int) -> None:
    """Replace BN running statistics by their exact average over ``num_iter`` batches (train mode)."""
    bns = _bn_modules(model)
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    it = iter(batches)
    for _ in range(num_iter):
        model(next(it))
    for bn, m in zip(bns, momenta):
        bn.momentum = m


class PreciseBN(HookBase):
    """Recomputes BN statistics over ``num_iter`` training batches after the last epoch (before eval).

    ``data_loader_fn`` builds the loader lazily, so nothing is loaded unless the hook runs.
    """

    def __init__(self, model: nn.Module, data_loader_fn: Callable[[], Any], num_iter: int) -> None:
        self._model = model
        self._loader_fn = data_loader_fn
        self._num_iter = num_iter

    def after_epoch(self):
        if self.trainer.iter < self.trainer.max_iter:  # not the last epoch
            return
        if not _bn_modules(self._model):
            logger.info("PreciseBN: the model has no BatchNorm layer in training mode; skipped")
            return
        logger.info("PreciseBN: recomputing BN statistics over %d batches", self._num_iter)
        update_bn_stats(self._model, self._loader_fn(), self._num_iter)


class LayerFreeze(HookBase):
    """Keeps the named top-level modules in eval mode (BN statistics frozen) for ``freeze_iters``.

    The optimizer (``fastreid.solver.build_optimizer``) withholds their updates for the same steps.
    """

    def __init__(self, model: nn.Module, freeze_layers: Sequence[str], freeze_iters: int) -> None:
        self._model = unwrap_model(model)
        self._names = list(freeze_layers)
        self._iters = freeze_iters
        self._frozen = False

    def _set(self, frozen: bool) -> None:
        children = dict(self._model.named_children())
        for name in self._names:
            children[name].train(not frozen)
        self._frozen = frozen
        logger.info("LayerFreeze: %s %s", "froze" if frozen else "unfroze", ", ".join(self._names))

    def before_step(self):
        frozen = self.trainer.iter < self._iters
        if frozen != self._frozen:
            self._set(frozen)


def extract_metric(results: Optional[Dict[str, Any]]) -> Optional[float]:
    """The "metric" of evaluation results: flat ``{"metric": x}`` or, for several test sets, the
    first set's ``{"<name>": {"metric": x}}``; None when absent."""
    if not results:
        return None
    if "metric" in results:
        return float(results["metric"])
    for v in results.values():
        if isinstance(v, dict) and "metric" in v:
            return float(v["metric"])
    return None


def _flatten(results: Dict[str, Any], prefix: str = "") -> Dict[str, float]:
    out = {}
    for k, v in results.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
    return out


class EvalHook(HookBase):
    """Runs ``eval_function()`` every ``period`` epochs and always after the last epoch (period 0 =
    only then). Results go to storage (flattened as "name/key") and ``trainer.last_eval_results``;
    ``trainer.last_eval_epoch`` tells later hooks that this epoch was evaluated."""

    def __init__(self, period: int, eval_function: Callable[[], Dict[str, Any]]) -> None:
        if period < 0:
            raise ConfigValueError(f"TEST.EVAL_PERIOD: {period} must be >= 0 (0 = evaluate only at the end)")
        self._period = period
        self._func = eval_function

    def after_epoch(self):
        epoch = self.trainer.epoch + 1
        last = self.trainer.iter >= self.trainer.max_iter
        if last or (self._period > 0 and epoch % self._period == 0):
            self._evaluate()

    def _evaluate(self) -> None:
        results = self._func()
        self.trainer.last_eval_results = results
        self.trainer.last_eval_epoch = self.trainer.epoch
        if results:
            flat = _flatten(results)
            for k, v in flat.items():
                if not math.isfinite(v):
                    raise ValueError(f"evaluation returned a non-finite value: {k}={v}")
            self.trainer.storage.put_scalars(**flat, smoothing_hint=False)
        model = getattr(self.trainer, "model", None)
        if isinstance(model, nn.Module):
            model.train()
        comm.synchronize()


class PeriodicCheckpointer(HookBase):
    """Saves ``model_{epoch:04d}.pth`` every ``period`` epochs and ``model_final.pth`` at the end.

    Register it *before* the :class:`EvalHook`: an epoch's weights are on disk (checkpoint and final
    epochs) or held in memory before any evaluation of that epoch starts, so an evaluation that fails
    or is interrupted cannot lose the training. The state of the last completed epoch not yet on disk
    is written as ``model_{epoch:04d}.pth`` and tagged in ``last_checkpoint`` when training stops early
    (Ctrl-C, SIGTERM or an error), so ``--resume`` continues from it. ``model_best.pth`` is the
    business of :class:`BestCheckpointer`, registered after the EvalHook. With ``max_keep`` > 0 only the
    newest ``max_keep`` periodic checkpoints stay: older ``model_<epoch>.pth`` files of the run folder are
    deleted after each save (never ``model_final.pth`` / ``model_best.pth``).
    """

    def __init__(self, checkpointer: Checkpointer, period: int, best_metric: Optional[float] = None,
                 keep_last_in_memory: bool = True, extra: Optional[Dict[str, Any]] = None,
                 max_keep: int = 0) -> None:
        if period < 1:
            raise ConfigValueError(f"SOLVER.CHECKPOINT_PERIOD: {period} must be >= 1 (epochs)")
        if isinstance(max_keep, bool) or not isinstance(max_keep, int) or max_keep < 0:
            raise ConfigValueError(f"SOLVER.CHECKPOINT_MAX_KEEP: {max_keep!r}; expected an integer >= 0 "
                                   "(0 keeps every periodic checkpoint)")
        self.max_keep = max_keep
        self.checkpointer = checkpointer
        self.period = period
        self.best_metric = best_metric
        self._keep = keep_last_in_memory
        self._pending = None  # (name, state) of the last completed epoch not yet on disk
        self._static_extra = dict(extra or {})

    def _extra(self) -> Dict[str, Any]:
        t = self.trainer
        return {**self._static_extra, "epoch": t.epoch, "iteration": t.iter, "best_metric": self.best_metric}

    def after_epoch(self):
        t = self.trainer
        epoch = t.epoch + 1
        if t.iter >= t.max_iter:
            self.checkpointer.save("model_final", **self._extra())
            self._pending = None
        elif epoch % self.period == 0:
            self.checkpointer.save(f"model_{t.epoch:04d}", **self._extra())
            self._pending = None
            self._prune()
        elif self._keep:
            self._pending = (f"model_{t.epoch:04d}", self.checkpointer.collect(**self._extra()))

    def _prune(self) -> None:
        """Delete the periodic checkpoints beyond the newest ``max_keep`` (by epoch number)."""
        folder = self.checkpointer.save_dir
        if self.max_keep <= 0 or not folder or not os.path.isdir(folder):
            return
        periodic = sorted((f for f in os.listdir(folder) if re.fullmatch(r"model_\d{4,}\.pth", f)),
                          key=lambda f: int(f[6:-4]))
        for name in periodic[:-self.max_keep]:
            os.remove(os.path.join(folder, name))
            logger.info("Removed %s (SOLVER.CHECKPOINT_MAX_KEEP %d)", name, self.max_keep)

    def after_train(self):
        if self._pending is not None and self.trainer.iter < self.trainer.max_iter:
            name, state = self._pending
            logger.warning("Training stopped early; saving the last completed epoch (%d) as %s.pth",
                           state["epoch"], name)
            self.checkpointer.write(name, state)
            self._pending = None


class BestCheckpointer(HookBase):
    """After each evaluation, saves ``model_best.pth`` when (mAP + Rank-1) / 2 beats the best so far
    and hands the new best to ``periodic`` so later checkpoints record it (resume keeps it)."""

    def __init__(self, periodic: PeriodicCheckpointer) -> None:
        self.periodic = periodic

    def after_epoch(self):
        t = self.trainer
        if getattr(t, "last_eval_epoch", None) != t.epoch:
            return
        metric = extract_metric(getattr(t, "last_eval_results", None))
        best = self.periodic.best_metric
        if metric is not None and (best is None or metric > best):
            self.periodic.best_metric = metric
            logger.info("New best metric %.4f at epoch %d", metric, t.epoch)
            self.periodic.checkpointer.save("model_best", tag_last=False, **self.periodic._extra())


class PeriodicWriter(HookBase):
    """Calls every writer every ``period`` iterations, at each epoch end, and closes them at the end."""

    def __init__(self, writers: Sequence[EventWriter], period: int = 20) -> None:
        if period < 1:
            raise ConfigValueError(f"SOLVER.LOG_PERIOD: {period} must be >= 1 (iterations)")
        self._writers = list(writers)
        self._period = period
        self._last_iter = -1

    def _write(self) -> None:
        for w in self._writers:
            w.write()
        self._last_iter = self.trainer.iter

    def after_step(self):
        if (self.trainer.iter + 1) % self._period == 0:
            self._write()

    def after_epoch(self):
        # the last step of the epoch may just have been written; evaluation results still need writing
        if self._last_iter != self.trainer.iter - 1 or getattr(self.trainer, "last_eval_epoch", None) == \
                self.trainer.epoch:
            self._write()

    def after_train(self):
        for w in self._writers:
            w.close()
