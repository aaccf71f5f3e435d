"""``DefaultTrainer``: train and evaluate a ReID model described by a config, with the default hooks.

``DefaultTrainer(cfg)`` builds every stage through a classmethod a subclass may override
(``build_model``, ``build_optimizer``, ``build_lr_scheduler``, ``build_train_loader``,
``build_test_loader``, ``build_evaluator``, ``test``), the per-iteration step through
``build_train_step``, and registers ``build_hooks()``. The modeling, solver and evaluation packages are
imported inside those builders, so a subclass that replaces them does not load them; ``fastreid.data``
is loaded with the engine (the train loop's ``EpochBatches``). What it does with the test sets is
:mod:`fastreid.engine.testing`; what a resumed checkpoint must fit, :mod:`fastreid.engine.resume`.
"""

from __future__ import annotations

import inspect
import logging
import os
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from fastreid.config.num_classes import fill_num_classes
from fastreid.solver.lr_scheduler import EpochLengths
from fastreid.utils import comm
from fastreid.utils.checkpoint import Checkpointer, num_classes_in_checkpoint
from fastreid.utils.comm import unwrap_model
from fastreid.utils.env import derive_seed, seed_all_rng
from fastreid.utils.errors import ConfigValueError, UserError
from fastreid.utils.events import CommonMetricPrinter, EventStorage, JSONWriter, TensorboardWriter

from . import hooks, testing
from .resume import check_resumable, model_signature, solver_signature
from .run_dir import complete_saved_config
from .train_loop import AMPTrainer, SimpleTrainer, TrainerBase, TrainingDivergedError

__all__ = ["DefaultTrainer"]

logger = logging.getLogger(__name__)


def _check_schedule(cfg) -> None:
    """Epoch counts that cannot train fail; LR steps that never happen are warned about."""
    s = cfg.SOLVER
    if s.MAX_EPOCH < 1:
        raise ConfigValueError(f"SOLVER.MAX_EPOCH: {s.MAX_EPOCH}; expected at least 1 epoch", key="SOLVER.MAX_EPOCH",
                               value=s.MAX_EPOCH, expected=">= 1")
    late = [m for m in s.STEPS if m >= s.MAX_EPOCH]
    if s.SCHED == "MultiStepLR" and late:
        logger.warning("SOLVER.STEPS %s: the decay at epoch(s) %s never happens with SOLVER.MAX_EPOCH %d",
                       list(s.STEPS), late, s.MAX_EPOCH)


class DefaultTrainer(TrainerBase):
    """Train and evaluate a ReID model described by ``cfg`` with the default hooks.

    Epochs are ``SOLVER.ITERS_PER_EPOCH`` iterations (0 = len(train set) // IMS_PER_BATCH). With
    SEED >= 0 all RNGs are re-seeded from (SEED, epoch, rank) at every epoch start, and samplers that
    have ``set_epoch`` restart from their epoch, so ``resume_or_load(resume=True)`` continues a run
    exactly. Typical use::

        trainer = DefaultTrainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        trainer.train()
    """

    def __init__(self, cfg) -> None:
        super().__init__()
        _check_schedule(cfg)
        if cfg.SEED >= 0:  # same as default_setup, so a trainer built twice starts identically
            seed_all_rng(derive_seed(cfg.SEED, comm.get_rank()))
        data_loader = self.build_train_loader(cfg)
        cfg = self.auto_scale_hyperparams(cfg, data_loader.dataset.num_classes)
        self.cfg = cfg
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        model = self._wrap_ddp(model)
        self.iters_per_epoch = self._iters_per_epoch(cfg, data_loader)
        self._trainer = self.build_train_step(cfg, model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer, self.iters_per_epoch)
        self.checkpointer = Checkpointer(
            unwrap_model(model), cfg.OUTPUT_DIR, save_to_disk=comm.is_main_process(), optimizer=optimizer,
            scheduler=self.scheduler, grad_scaler=getattr(self._trainer, "grad_scaler", None),
        )
        self.start_epoch = 0
        self.max_epoch = cfg.SOLVER.MAX_EPOCH
        self.max_iter = EpochLengths(self.iters_per_epoch).start(self.max_epoch)
        self.best_metric: Optional[float] = None
        self.last_eval_results: Optional[Dict[str, Any]] = None
        self.last_eval_epoch: Optional[int] = None
        self.test_loaders: Dict[Tuple[str, Optional[int]], Tuple[Any, int]] = {}  # built (and printed) once
        self.register_hooks(self.build_hooks())
        self.check_test_sets(cfg, unwrap_model(model), **self._loaders_for(self.check_test_sets))

    def _evaluate(self) -> Dict[str, Any]:
        """``test`` on the current weights with this trainer's test loaders (read and printed once per
        run). An override written as fast-reid's ``test(cls, cfg, model)`` is called as such."""
        return self.test(self.cfg, unwrap_model(self.model), **self._loaders_for(self.test))

    def _loaders_for(self, method) -> Dict[str, Any]:
        """``{"loaders": self.test_loaders}`` when ``method`` takes them; empty for an override written
        with fast-reid's signature (which then builds its loaders itself)."""
        return {"loaders": self.test_loaders} if "loaders" in inspect.signature(method).parameters else {}

    # ------------------------------------------------------------------ wiring
    @property
    def model(self) -> nn.Module:
        return self._trainer.model

    @property
    def train_step(self) -> SimpleTrainer:
        """The per-iteration step built by ``build_train_step``."""
        return self._trainer

    @property
    def data_loader(self):
        return self._trainer.data_loader

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self._trainer.optimizer

    def replace_train_set(self, train_set, sampler=None) -> None:
        """Train on ``train_set`` from the next iteration on: the supported way for a training method to
        relabel or resample the training images between epochs (clustering-based unsupervised learning
        does it at every clustering round). Call it from a hook's ``before_epoch``, so that the epoch's
        batches come from the new set only and a resumed run sees the same ones.

        ``train_set`` is a :class:`~fastreid.data.common.CommDataset` (items, transform, labels);
        ``sampler`` replaces DATALOADER.SAMPLER_TRAIN's sampler over it. Batches stay seeded by
        (SEED, epoch, iteration, rank). What does not change: the epoch length (``iters_per_epoch``)
        and with it the schedule, and the model's classifier (MODEL.HEADS.NUM_CLASSES); a method whose
        class count changes keeps its classes elsewhere (a cluster memory, ``fastreid.layers``).
        """
        from fastreid.data import build_reid_train_loader

        if len(train_set) == 0:
            raise ConfigValueError("replace_train_set: the new training set is empty; expected images")
        self._trainer.set_data_loader(build_reid_train_loader(self.cfg, train_set=train_set, sampler=sampler))

    def _wrap_ddp(self, model: nn.Module) -> nn.Module:
        if comm.get_world_size() <= 1:
            return model
        on_cuda = next(model.parameters()).device.type == "cuda"
        ids = [comm.get_local_rank()] if on_cuda else None
        # buffers (BN statistics) stay per-process after the initial sync, as in fast-reid
        if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters:
            return DistributedDataParallel(model, device_ids=ids, forward_sync_buffers=False)
        return DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)

    @staticmethod
    def _iters_per_epoch(cfg, data_loader) -> int:
        """Iterations per epoch; a subclass may return each epoch's (a sequence of SOLVER.MAX_EPOCH lengths)."""
        if cfg.SOLVER.ITERS_PER_EPOCH > 0:
            return cfg.SOLVER.ITERS_PER_EPOCH
        n = len(data_loader.dataset)
        ipe = n // cfg.SOLVER.IMS_PER_BATCH
        if ipe < 1:
            raise ConfigValueError(
                f"SOLVER.IMS_PER_BATCH: {cfg.SOLVER.IMS_PER_BATCH} exceeds the {n} training images; expected "
                "a smaller batch or SOLVER.ITERS_PER_EPOCH > 0"
            )
        return ipe

    def resume_or_load(self, resume: bool = True) -> None:
        """With ``resume`` and a ``last_checkpoint`` in OUTPUT_DIR, restore the full state and continue
        after its epoch; otherwise load MODEL.WEIGHTS (if set) into the model only."""
        if resume and not self.checkpointer.has_checkpoint():
            logger.warning("--resume: %s has no last_checkpoint; starting a new run%s", self.cfg.OUTPUT_DIR,
                           f" from MODEL.WEIGHTS {self.cfg.MODEL.WEIGHTS}" if self.cfg.MODEL.WEIGHTS else " from scratch")
        if resume and self.checkpointer.has_checkpoint():
            self._check_resumable(self.checkpointer.get_checkpoint_file())
        extra = self.checkpointer.resume_or_load(self.cfg.MODEL.WEIGHTS, resume=resume, min_loaded=0.5,
                                                 what="MODEL.WEIGHTS")
        if resume and self.checkpointer.has_checkpoint():
            self.start_epoch = int(extra.get("epoch", -1)) + 1
            if self.start_epoch >= self.max_epoch:
                logger.warning("--resume: the checkpoint ends at epoch %d and SOLVER.MAX_EPOCH is %d: nothing is "
                               "left to train; its final evaluation runs again, in case it was interrupted "
                               "(raise SOLVER.MAX_EPOCH to train longer)", self.start_epoch, self.max_epoch)
            self.best_metric = self._best_so_far(extra.get("best_metric"))
            for h in self._hooks:
                if isinstance(h, hooks.PeriodicCheckpointer):
                    h.best_metric = self.best_metric
            logger.info("Resuming at epoch %d", self.start_epoch)

    def _check_resumable(self, path: str) -> None:
        """The checkpoint to resume fits this trainer's model and optimizer
        (:func:`fastreid.engine.resume.check_resumable`)."""
        check_resumable(path, unwrap_model(self.model), self.cfg)

    def _best_so_far(self, best: Optional[float]) -> Optional[float]:
        """The best metric of the run: the resumed checkpoint's, or model_best.pth's when that is newer
        (an epoch's checkpoint is written before its evaluation)."""
        path = os.path.join(self.cfg.OUTPUT_DIR, "model_best.pth") if self.cfg.OUTPUT_DIR else ""
        if path and os.path.isfile(path):
            from fastreid.utils.checkpoint import load_torch_file

            saved = load_torch_file(path).get("best_metric")
            if saved is not None and (best is None or saved > best):
                return float(saved)
        return best

    def train(self) -> Optional[Dict[str, Any]]:
        """Train from ``start_epoch`` to ``SOLVER.MAX_EPOCH``; returns the last evaluation results. A
        resumed run with no epoch left runs its final evaluation (which Ctrl-C may have interrupted)."""
        if self.start_epoch >= self.max_epoch:
            self._evaluate_the_end()
            return self.last_eval_results
        try:
            super().train(self.start_epoch, self.max_epoch, self.iters_per_epoch)
        except TrainingDivergedError as e:
            raise TrainingDivergedError(f"{e} ({self._what_is_saved()})") from None
        return self.last_eval_results

    def _what_is_saved(self) -> str:
        """What ``--resume`` would continue from, read from OUTPUT_DIR after the hooks' last saves."""
        try:
            path = self.checkpointer.get_checkpoint_file()
        except (OSError, UserError):
            path = ""
        if not path:
            return "no checkpoint is saved: no epoch completed"
        return (f"the last checkpoint is {os.path.basename(path)}: --resume with a lower SOLVER.BASE_LR "
                "continues from it")

    def _evaluate_the_end(self) -> None:
        """The end of the last epoch again, for a resumed run whose epochs are all trained: evaluation,
        the best-model checkpoint and the writers (not PreciseBN nor the periodic checkpoint, whose work
        is in the resumed weights)."""
        self.epoch = self.start_epoch - 1
        self.iter = EpochLengths(self.iters_per_epoch).start(self.start_epoch)
        kinds = (hooks.EvalHook, hooks.BestCheckpointer, hooks.PeriodicWriter)
        ends = [h for h in self._hooks if isinstance(h, kinds)]
        with EventStorage(self.iter - 1) as self.storage:
            self.storage.epoch = self.epoch
            for h in ends:
                h.after_epoch()
            for h in ends:
                h.after_train()

    def before_epoch(self) -> None:
        if self.cfg.SEED >= 0:
            seed_all_rng(derive_seed(self.cfg.SEED, self.epoch, comm.get_rank()))
        super().before_epoch()

    def run_step(self) -> None:
        t = self._trainer
        t.iter, t.epoch, t.storage, t.iters_per_epoch = self.iter, self.epoch, self.storage, self.iters_per_epoch
        t.run_step()

    # ------------------------------------------------------------------ hooks
    def build_hooks(self) -> List[hooks.HookBase]:
        """Timer, LR schedule, optional PreciseBN and LayerFreeze, then (main process) the periodic
        checkpoint, evaluation, then (main process) the best-model checkpoint and the writers."""
        cfg = self.cfg
        ret: List[Optional[hooks.HookBase]] = [
            hooks.IterationTimer(),
            hooks.LRScheduler(self.optimizer, self.scheduler),
        ]
        if cfg.TEST.PRECISE_BN.ENABLED:
            ret.append(hooks.PreciseBN(unwrap_model(self.model), self._precise_bn_loader,
                                       cfg.TEST.PRECISE_BN.NUM_ITER))
        if cfg.MODEL.FREEZE_LAYERS and cfg.SOLVER.FREEZE_ITERS > 0:
            ret.append(hooks.LayerFreeze(self.model, cfg.MODEL.FREEZE_LAYERS, cfg.SOLVER.FREEZE_ITERS))
        periodic = None
        if comm.is_main_process():  # the epoch's weights are saved before its evaluation starts
            periodic = hooks.PeriodicCheckpointer(
                self.checkpointer, cfg.SOLVER.CHECKPOINT_PERIOD, max_keep=cfg.SOLVER.CHECKPOINT_MAX_KEEP,
                extra={"num_classes": cfg.MODEL.HEADS.NUM_CLASSES, "solver": solver_signature(cfg),
                       "model_config": model_signature(cfg)}
            )
            ret.append(periodic)
        ret.append(hooks.EvalHook(cfg.TEST.EVAL_PERIOD, self._evaluate))
        if periodic is not None:
            ret.append(hooks.BestCheckpointer(periodic))
            ret.append(hooks.PeriodicWriter(self.build_writers(), cfg.SOLVER.LOG_PERIOD))
        return ret

    def build_writers(self) -> list:
        """Console line, OUTPUT_DIR/metrics.json and TensorBoard (if installed)."""
        writers: list = [CommonMetricPrinter(self.max_iter)]
        if self.cfg.OUTPUT_DIR:
            writers.append(JSONWriter(os.path.join(self.cfg.OUTPUT_DIR, "metrics.json")))
            tb = TensorboardWriter(self.cfg.OUTPUT_DIR)
            if tb.enabled:
                writers.append(tb)
        return writers

    def _precise_bn_loader(self):
        cfg = self.cfg.clone()
        cfg.defrost()
        cfg.DATALOADER.NUM_WORKERS = 0
        cfg.DATASETS.NAMES = (cfg.TEST.PRECISE_BN.DATASET,)
        return self.build_train_loader(cfg)

    # ------------------------------------------------------------------ stages (override these)
    @staticmethod
    def auto_scale_hyperparams(cfg, num_classes: int):
        """Set MODEL.HEADS.NUM_CLASSES from the training set when it is 0 (:func:`fill_num_classes`);
        returns the (new) cfg. The run's saved config.yaml is completed with it."""
        filled = fill_num_classes(cfg, num_classes, "the training set")
        if filled is not cfg:
            complete_saved_config(filled)
        return filled

    # the earlier spelling of fastreid.utils.checkpoint.num_classes_in_checkpoint, kept for its callers
    num_classes_in_checkpoint = staticmethod(num_classes_in_checkpoint)

    @classmethod
    def build_model(cls, cfg) -> nn.Module:
        from fastreid.modeling.meta_arch.build import build_model

        model = build_model(cfg)
        logger.info("Model:\n%s", model)
        return model

    @classmethod
    def build_optimizer(cls, cfg, model: nn.Module) -> torch.optim.Optimizer:
        from fastreid.solver import build_optimizer

        return build_optimizer(cfg, model)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer: torch.optim.Optimizer, iters_per_epoch: int):
        from fastreid.solver import build_lr_scheduler

        return build_lr_scheduler(cfg, optimizer, iters_per_epoch)

    def build_train_step(self, cfg, model: nn.Module, data_loader, optimizer: torch.optim.Optimizer) -> SimpleTrainer:
        """The per-iteration step (detectron2's trainer / ``run_step`` split): a ``SimpleTrainer`` (an
        ``AMPTrainer`` with SOLVER.AMP.ENABLED) over the built model, loader and optimizer. Override it
        for another step (the MSINet search returns its architecture + weight step); it may read
        ``self.iters_per_epoch``; schedule, checkpointer and hooks are built after it."""
        trainer_cls = AMPTrainer if cfg.SOLVER.AMP.ENABLED else SimpleTrainer
        return trainer_cls(model, data_loader, optimizer)

    @classmethod
    def build_train_loader(cls, cfg):
        from fastreid.data import build_reid_train_loader

        return build_reid_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name: str, **dataset_kwargs):
        """Returns ``(loader, num_query)``: query images first, then gallery. ``dataset_kwargs`` go to
        the dataset (e.g. ``repeat=r`` for VehicleID's seeded gallery draw)."""
        from fastreid.data import build_reid_test_loader

        return build_reid_test_loader(cfg, dataset_name, **dataset_kwargs)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name: str, num_query: int, output_dir: Optional[str] = None):
        from fastreid.evaluation import ReidEvaluator

        return ReidEvaluator(cfg, num_query, output_dir)

    @classmethod
    def check_test_sets(cls, cfg, model: nn.Module, loaders=None) -> None:
        """Before the first iteration: :meth:`check_input_sizes`, then every DATASETS.TESTS set loads
        through ``build_test_loader``, its files are images and one batch goes through ``model``
        (:func:`fastreid.engine.testing.check_test_sets`); ``loaders`` (a dict) keeps the loaders for
        ``test``."""
        cls.check_input_sizes(cfg, model)
        testing.check_test_sets(cfg, model, cls.build_test_loader, loaders)

    @staticmethod
    def check_input_sizes(cfg, model: nn.Module) -> None:
        """INPUT.SIZE_TRAIN and INPUT.SIZE_TEST fit the model, else one line naming the key and the
        smallest size it takes (:func:`fastreid.engine.testing.check_input_sizes`)."""
        testing.check_input_sizes(cfg, model)

    @classmethod
    def test(cls, cfg, model: nn.Module, loaders=None) -> Dict[str, Any]:
        """Evaluate ``model`` on every DATASETS.TESTS set with ``build_test_loader`` and
        ``build_evaluator`` (:func:`fastreid.engine.testing.evaluate_test_sets`); ``loaders`` (a dict,
        filled on first use) keeps the test loaders between calls, as a trainer's periodic evaluation does.

        Returns the metrics dict of the single test set, or ``{name: metrics}`` for several.
        """
        return testing.evaluate_test_sets(cfg, model, cls.build_test_loader, cls.build_evaluator, loaders)
