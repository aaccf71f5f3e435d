"""The standard command line, run setup and ``DefaultTrainer``.

``DefaultTrainer(cfg)`` builds every stage through a classmethod a subclass may override
(``build_model``, ``build_optimizer``, ``build_lr_scheduler``, ``build_train_loader``,
``build_test_loader``, ``build_evaluator``, ``test``) and registers ``build_hooks()``. The data,
modeling and evaluation packages are imported inside those classmethods, so the engine imports (and a
subclass that replaces them works) without them.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import yaml
from torch.nn.parallel import DistributedDataParallel

from fastreid.solver.lr_scheduler import EpochLengths
from fastreid.utils import comm
from fastreid.utils.checkpoint import Checkpointer
from fastreid.utils.comm import unwrap_model
from fastreid.utils.env import collect_env_info, derive_seed, seed_all_rng
from fastreid.utils.errors import ConfigValueError, UserError
from fastreid.utils.events import CommonMetricPrinter, EventStorage, JSONWriter, TensorboardWriter
from fastreid.utils.file_io import atomic_open
from fastreid.utils.logger import setup_logger

from . import hooks
from .cli import add_override_arguments
from .run_dir import claim_run_dir, keep_previous_config, set_aside_previous_run
from .train_loop import AMPTrainer, SimpleTrainer, TrainerBase, TrainingDivergedError

__all__ = ["default_argument_parser", "default_setup", "start_run", "save_run_config", "DefaultTrainer",
           "train_or_evaluate"]

logger = logging.getLogger(__name__)


def default_argument_parser(description: str = "fastreid training") -> argparse.ArgumentParser:
    """Flags shared by the tools: config file, resume/eval-only, process layout and KEY VALUE overrides."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", default="", metavar="FILE", help="path to the YAML config")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUTPUT_DIR/last_checkpoint (else start from MODEL.WEIGHTS)")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in an OUTPUT_DIR that holds one (its checkpoints and config move "
                        "into an overwritten-<date> subfolder)")
    p.add_argument("--eval-only", action="store_true",
                   help="evaluate MODEL.WEIGHTS (strict load) and exit; writes into OUTPUT_DIR/eval")
    p.add_argument("--num-gpus", type=int, default=1,
                   help="processes per machine: one per GPU, or CPU processes (gloo) without CUDA")
    p.add_argument("--num-machines", type=int, default=1, help="total number of machines")
    p.add_argument("--machine-rank", type=int, default=0, help="rank of this machine (from 0)")
    p.add_argument("--dist-url", default="auto",
                   help="rendezvous URL, e.g. tcp://10.0.0.1:29500; 'auto' picks a free local port")
    add_override_arguments(p)
    return p


def default_setup(cfg, args) -> int:
    """Prepare a run: output folder, loggers, environment summary, seeds.

    SEED < 0 draws a random seed (logged, and written into the saved config so the run can be
    repeated). Returns the seed in use. The cfg is frozen afterwards. ``config.yaml`` is written by
    :func:`train_or_evaluate` once the run has passed every check that can refuse it, so a refused
    command leaves the folder's config as it was.

    The run folder is claimed first (:func:`~fastreid.engine.run_dir.claim_run_dir`): a folder holding
    an earlier run needs ``--resume`` or ``--overwrite``, and a second process in it stops. With
    ``--eval-only`` everything goes to ``OUTPUT_DIR/eval``, so a training run's files stay as they are.
    """
    rank = comm.get_rank()
    eval_only = getattr(args, "eval_only", False)
    if eval_only and cfg.OUTPUT_DIR:
        cfg.defrost()
        cfg.OUTPUT_DIR = os.path.join(cfg.OUTPUT_DIR, "eval")
    output_dir = cfg.OUTPUT_DIR
    claim_run_dir(output_dir, resume=getattr(args, "resume", False) or eval_only,
                  overwrite=getattr(args, "overwrite", False), lock=comm.is_main_process())
    comm.synchronize()
    from fastreid.utils.plugins import loaded_plugin_packages

    for name in ("fastreid", "__main__", *loaded_plugin_packages()):
        setup_logger(output_dir, distributed_rank=rank, name=name)
    logger.info("Rank of current process: %d. World size: %d", rank, comm.get_world_size())
    logger.info("Environment info:\n%s", collect_env_info())
    logger.info("Command line arguments: %s", args)
    if getattr(args, "config_file", ""):
        with open(args.config_file) as f:
            logger.info("Contents of config file %s:\n%s", args.config_file, f.read())
    seed = cfg.SEED if cfg.SEED >= 0 else int(comm.all_gather(seed_all_rng(-1))[0])
    cfg.defrost()
    cfg.SEED = seed
    cfg.freeze()
    seed_all_rng(derive_seed(seed, rank))
    logger.info("Running with full config:\n%s", cfg.dump())
    if not getattr(args, "eval_only", False) and torch.cuda.is_available():
        torch.backends.cudnn.benchmark = cfg.CUDNN_BENCHMARK
    return seed


def save_run_config(cfg) -> str:
    """Write ``OUTPUT_DIR/config.yaml`` atomically (a different earlier one is kept as ``config.<n>.yaml``);
    returns its path."""
    path = os.path.join(cfg.OUTPUT_DIR, "config.yaml")
    text = cfg.dump()
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    completed = _as_completed_by_the_run(cfg, path)
    kept = keep_previous_config(cfg.OUTPUT_DIR, completed or text)
    if completed is not None and kept is None:
        return path  # the same config, with the class count the run filled in: keep that file
    with atomic_open(path) as f:
        f.write(text)
    return path


def _as_completed_by_the_run(cfg, path: str) -> Optional[str]:
    """``cfg`` as the run at ``path`` completed it (MODEL.HEADS.NUM_CLASSES 0 -> the training set's count,
    see :meth:`DefaultTrainer.auto_scale_hyperparams`), so a resume does not count that as a change;
    None when there is nothing to complete."""
    if cfg.MODEL.HEADS.NUM_CLASSES != 0 or not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            saved = (yaml.safe_load(f) or {}).get("MODEL", {}).get("HEADS", {}).get("NUM_CLASSES")
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    if not isinstance(saved, int) or saved <= 0:
        return None
    completed = cfg.clone()
    completed.defrost()
    completed.MODEL.HEADS.NUM_CLASSES = saved
    return completed.dump()


def _complete_saved_config(cfg) -> None:
    """Write ``cfg`` (its class count filled in) over OUTPUT_DIR/config.yaml when that file is this same
    config with NUM_CLASSES 0 (what :func:`start_run` wrote); any other file is left for
    :func:`save_run_config`, which runs once the run has started."""
    path = os.path.join(cfg.OUTPUT_DIR, "config.yaml") if cfg.OUTPUT_DIR else ""
    if not (comm.is_main_process() and path and os.path.isfile(path)):
        return
    blank = cfg.clone()
    blank.defrost()
    blank.MODEL.HEADS.NUM_CLASSES = 0
    with open(path) as f:
        if f.read() != blank.dump():
            return
    with atomic_open(path) as f:
        f.write(cfg.dump())


def start_run(cfg, *, resume: bool = False, overwrite: bool = False) -> str:
    """What a driver that trains many models in one process (an experiment, the demo) does before each:
    the run-folder rules of :func:`default_setup` (OUTPUT_DIR claimed and locked; one holding an earlier
    run needs ``resume`` or ``overwrite``) and its ``config.yaml``. Logging and seeding stay with the
    driver and the trainer (DefaultTrainer seeds itself from SEED). Returns the config's path."""
    claim_run_dir(cfg.OUTPUT_DIR, resume=resume, overwrite=overwrite, lock=comm.is_main_process())
    return save_run_config(cfg)


_SOLVER_KEYS = ("OPT", "BASE_LR", "MOMENTUM", "WEIGHT_DECAY", "SCHED", "STEPS", "GAMMA", "MAX_EPOCH",
                "WARMUP_METHOD", "WARMUP_FACTOR", "WARMUP_EPOCHS", "WARMUP_ITERS", "DELAY_EPOCHS", "ETA_MIN_LR")


def solver_signature(cfg) -> Dict[str, Any]:
    """The SOLVER values a checkpoint records, so a resume can tell what changed."""
    return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in
            ((k, getattr(cfg.SOLVER, k)) for k in _SOLVER_KEYS if k in cfg.SOLVER)}


_UNRECORDED_MODEL_KEYS = ("MODEL.WEIGHTS", "MODEL.DEVICE")


def model_signature(cfg) -> Dict[str, Any]:
    """The MODEL values a checkpoint records (all but MODEL.WEIGHTS and MODEL.DEVICE, flattened: the
    backbone's name, a genotype, ...), so a resume whose model does not fit can say what changed."""
    flat: Dict[str, Any] = {}
    todo = [("MODEL", cfg.MODEL)]
    while todo:
        prefix, node = todo.pop()
        for k, v in node.items():
            key = f"{prefix}.{k}"
            if isinstance(v, dict):
                todo.append((key, v))
            elif key not in _UNRECORDED_MODEL_KEYS:
                flat[key] = list(v) if isinstance(v, (list, tuple)) else v
    return flat


def _changed_model_keys(saved: Any, now: Dict[str, Any]) -> List[str]:
    """``"KEY old -> new"`` for every MODEL key both signatures hold with different values."""
    if not isinstance(saved, dict):
        return []  # a checkpoint written before the model was recorded
    return [f"{k} {saved[k]} -> {now[k]}" for k in sorted(now) if k in saved and saved[k] != now[k]]


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
        """The checkpoint to resume fits this trainer's model and optimizer (see the two checks)."""
        from fastreid.utils.checkpoint import load_torch_file

        data = load_torch_file(path)
        self._check_resumed_model(path, data)
        self._check_resumed_solver(path, data)

    def _check_resumed_model(self, path: str, data: Any) -> None:
        """A checkpoint whose weights do not fit the model of the config (another backbone, genotype or
        class count) cannot be resumed: one line with the MODEL keys that changed (when the checkpoint
        records them) and the counts of missing, unexpected and shape-mismatched keys."""
        from fastreid.utils.checkpoint import mismatch_summary, split_state_dict, state_mismatch

        state, rest = split_state_dict(data, path)
        missing, unexpected, mismatched = state_mismatch(unwrap_model(self.model), state)
        if not (missing or unexpected or mismatched):
            return
        changed = _changed_model_keys(rest.get("model_config"), model_signature(self.cfg))
        raise ConfigValueError(
            f"--resume: {path} does not fit the model of the config ("
            + "; ".join(changed + [mismatch_summary(missing, unexpected, mismatched)])
            + "); expected the model the run was trained with (its config.yaml), or a new run started from "
            f"its weights (MODEL.WEIGHTS {path} with --overwrite or another OUTPUT_DIR)")

    def _check_resumed_solver(self, path: str, data: Any) -> None:
        """A checkpoint written with another SOLVER.OPT cannot be resumed (its state does not fit the new
        optimizer): one line. A changed schedule is taken from the saved iteration on: a warning lists it."""
        saved = data.get("solver") if isinstance(data, dict) else None
        if not isinstance(saved, dict):
            return  # written before the solver was recorded
        now = solver_signature(self.cfg)
        if saved.get("OPT") != now["OPT"]:
            raise ConfigValueError(
                f"--resume: {path} was trained with SOLVER.OPT {saved.get('OPT')}, the config now says {now['OPT']}, "
                "whose state cannot be restored from it; expected the same SOLVER.OPT, or a new run started from "
                f"its weights (MODEL.WEIGHTS {path} with --overwrite or another OUTPUT_DIR)")
        changed = [f"{k} {saved.get(k)} -> {v}" for k, v in now.items() if saved.get(k) != v]
        if changed:
            logger.warning("--resume with a changed solver (%s): the new values apply from the saved iteration on",
                           "; ".join(f"SOLVER.{c}" for c in changed))

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
                self.checkpointer, cfg.SOLVER.CHECKPOINT_PERIOD,
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
        """Set MODEL.HEADS.NUM_CLASSES from the training set when it is 0; returns the (new) cfg."""
        if cfg.MODEL.HEADS.NUM_CLASSES > 0:
            return cfg
        frozen = cfg.is_frozen()
        cfg = cfg.clone()
        cfg.defrost()
        cfg.MODEL.HEADS.NUM_CLASSES = int(num_classes)
        logger.info("MODEL.HEADS.NUM_CLASSES set to %d from the training set", num_classes)
        _complete_saved_config(cfg)
        if frozen:
            cfg.freeze()
        return cfg

    @staticmethod
    def num_classes_in_checkpoint(path: str) -> int:
        """MODEL.HEADS.NUM_CLASSES a checkpoint was trained with (0 if it does not say)."""
        from fastreid.utils.checkpoint import load_torch_file

        data = load_torch_file(path) if path else {}
        return int(data.get("num_classes", 0) or 0) if isinstance(data, dict) else 0

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
    def _cached_test_loader(cls, cfg, name: str, repeat: Optional[int],
                            loaders: Optional[Dict[Tuple[str, Optional[int]], Tuple[Any, int]]]):
        """``build_test_loader`` for test set ``name`` (draw ``repeat`` of a randomly drawn protocol,
        None otherwise), kept in ``loaders`` when given so that a trainer reads and prints each test
        set once, not at every evaluation."""
        key = (name, repeat)
        if loaders is not None and key in loaders:
            return loaders[key]
        built = cls.build_test_loader(cfg, name, **({"repeat": repeat} if repeat is not None else {}))
        if loaders is not None:
            loaders[key] = built
        return built

    @staticmethod
    def _test_repeats(cfg, name: str) -> List[Optional[int]]:
        """The draws evaluated on test set ``name``: ``[None]`` for a fixed protocol, ``0..TEST.REPEATS-1``
        for a randomly drawn one (VehicleID's one gallery image per identity), averaged by ``test``."""
        from fastreid.data.datasets.registry import DATASET_REGISTRY

        if getattr(DATASET_REGISTRY.get(name), "random_test_split", False) and cfg.TEST.REPEATS > 1:
            return list(range(cfg.TEST.REPEATS))
        return [None]

    @classmethod
    def check_test_sets(cls, cfg, model: nn.Module, loaders=None) -> None:
        """Before the first iteration, what evaluation will need: every DATASETS.TESTS set loads with a
        usable query and gallery, each of its image files passes :func:`check_image_file` (without
        decoding), and one test batch goes through ``model`` in eval mode. So a long run cannot
        train for hours and then die at its first evaluation for a reason knowable at its start.
        ``loaders`` (a dict) keeps the loaders built here for ``test``. First of all,
        :meth:`check_input_sizes`."""
        from fastreid.data.data_utils import check_image_file

        cls.check_input_sizes(cfg, model)
        was_training = model.training
        for name in cfg.DATASETS.TESTS:
            loader, _ = cls._cached_test_loader(cfg, name, cls._test_repeats(cfg, name)[0], loaders)
            if not cfg.DATASETS.SKIP_CORRUPT:
                for path, *_ in loader.dataset.img_items:
                    check_image_file(path)
            batch = next(iter(loader))
            try:
                model.eval()
                with torch.no_grad():
                    model(batch)
            finally:
                model.train(was_training)
            logger.info("Test set %s checked: %d images, one batch of %s through the model", name,
                        len(loader.dataset), tuple(batch["images"].shape))

    @staticmethod
    def check_input_sizes(cfg, model: nn.Module) -> None:
        """INPUT.SIZE_TRAIN and INPUT.SIZE_TEST each take one blank image through ``model`` (eval mode);
        a size too small for the model's strides and pools stops in one line naming the key and the
        smallest size the model takes (found by trying)."""
        for key in ("SIZE_TRAIN", "SIZE_TEST"):
            size = tuple(int(v) for v in cfg.INPUT[key])
            error = _fails_at(model, size)
            if error is None:
                continue
            smallest = _smallest_input(model, size)
            if smallest is None:  # no larger image goes through either: not a matter of size
                logger.debug("INPUT.%s: a blank image does not go through the model (%s)", key, error)
                continue
            raise ConfigValueError(
                f"INPUT.{key}: {list(size)} is too small for the model (MODEL.BACKBONE.NAME "
                f"{cfg.MODEL.BACKBONE.NAME}: {str(error).splitlines()[0][:160]}); expected at least "
                f"{list(smallest)} (height, width)", key=f"INPUT.{key}", value=list(size),
                expected=f">= {list(smallest)}")

    @classmethod
    def test(cls, cfg, model: nn.Module, loaders=None) -> Dict[str, Any]:
        """Evaluate ``model`` on every DATASETS.TESTS set; ``loaders`` (a dict, filled on first use)
        keeps the test loaders between calls, as a trainer's periodic evaluation does.

        Returns the metrics dict of the single test set, or ``{name: metrics}`` for several.
        """
        from fastreid.evaluation import average_results, inference_on_dataset, print_csv_format
        from fastreid.modeling.inference import inference_model

        model = inference_model(model)  # a folded copy: same features, faster; the trained model is untouched
        results: Dict[str, Any] = OrderedDict()
        for name in cfg.DATASETS.TESTS:
            draws = cls._test_repeats(cfg, name)
            runs = []
            for r in draws:
                logger.info("Evaluating on %s%s", name, f" (draw {r + 1}/{len(draws)})" if r is not None else "")
                loader, num_query = cls._cached_test_loader(cfg, name, r, loaders)
                evaluator = cls.build_evaluator(cfg, name, num_query)
                runs.append(inference_on_dataset(model, loader, evaluator, flip_test=cfg.TEST.FLIP.ENABLED))
            res = runs[0] if len(runs) == 1 or not runs[0] else average_results(runs)
            results[name] = res
            if comm.is_main_process() and res:
                print_csv_format({name: res})
        return next(iter(results.values())) if len(results) == 1 else results


def _fails_at(model: nn.Module, size_hw: Tuple[int, int]) -> Optional[Exception]:
    """The RuntimeError (a pool or a kernel larger than its input) or ValueError (a head's own size check)
    one blank ``(1, 3, H, W)`` image raises in ``model`` (eval mode), else None (also when the model does
    not take a bare image tensor: nothing can be told then)."""
    param = next(model.parameters(), None)
    images = torch.zeros(1, 3, *size_hw, device=param.device if param is not None else "cpu")
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(images)
    except (RuntimeError, ValueError) as e:
        return e
    except Exception:
        return None
    finally:
        model.train(was_training)
    return None


def _smallest_side(runs, high: int) -> int:
    """The smallest ``x`` in ``1..high`` with ``runs(x)``, given ``runs(high)``."""
    low = 0  # runs(low) is taken to fail
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if runs(mid) else (mid, high)
    return high


def _smallest_input(model: nn.Module, size_hw: Tuple[int, int],
                    limit: int = 1024) -> Optional[Tuple[int, int]]:
    """The smallest (height, width) ``model`` takes, by trying: doubled from ``size_hw`` until an image
    goes through, then each side shrunk; None when nothing up to ``limit`` pixels a side does."""
    h, w = max(1, size_hw[0]), max(1, size_hw[1])
    while _fails_at(model, (h, w)) is not None:
        if max(h, w) >= limit:
            return None
        h, w = 2 * h, 2 * w
    h = _smallest_side(lambda x: _fails_at(model, (x, w)) is None, h)
    w = _smallest_side(lambda x: _fails_at(model, (h, x)) is None, w)
    return h, w


def train_or_evaluate(cfg, args, trainer_cls: type = DefaultTrainer) -> Optional[Dict[str, Any]]:
    """The body of every ``train_net.py``: with ``--eval-only`` evaluate ``MODEL.WEIGHTS`` (loaded
    strictly; NUM_CLASSES 0 is taken from the checkpoint), otherwise train, resuming with ``--resume``."""
    if args.eval_only:
        if not cfg.MODEL.WEIGHTS:
            raise ConfigValueError("--eval-only evaluates MODEL.WEIGHTS, which is empty; expected "
                                   "MODEL.WEIGHTS <checkpoint.pth> (an untrained network is not evaluated)")
        if cfg.MODEL.HEADS.NUM_CLASSES == 0:  # the classifier must match the checkpoint's
            cfg.defrost()
            cfg.MODEL.HEADS.NUM_CLASSES = max(1, trainer_cls.num_classes_in_checkpoint(cfg.MODEL.WEIGHTS))
            cfg.freeze()
        model = trainer_cls.build_model(cfg)
        Checkpointer(model).load(cfg.MODEL.WEIGHTS, strict=True)
        _start(cfg)
        return trainer_cls.test(cfg, model)
    trainer = trainer_cls(cfg)
    trainer.resume_or_load(resume=args.resume)
    _start(trainer.cfg, set_aside=getattr(args, "overwrite", False) and not args.resume)
    return trainer.train()


def _start(cfg, set_aside: bool = False) -> None:
    """What a run does once every check that can refuse it has passed: (``--overwrite``) the earlier
    run's checkpoints and configs set aside, then ``config.yaml`` written (main process)."""
    if not (comm.is_main_process() and cfg.OUTPUT_DIR):
        return
    if set_aside:
        set_aside_previous_run(cfg.OUTPUT_DIR)
    logger.info("Full config saved to %s", save_run_config(cfg))
