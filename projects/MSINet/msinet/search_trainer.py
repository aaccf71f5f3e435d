"""SearchTrainer: the differentiable architecture search of MSINet as a toolbox trainer.

``projects/MSINet/train_net.py`` uses it when SEARCH.ENABLED. It is a ``DefaultTrainer`` whose
- identity split (SEARCH.TRAIN_RATIO / VALID_RATIO, ``msinet.search_split``) is built once: its *train*
  part is the training set, its *valid* part feeds a second loader, both feed the memories' centroids;
- model is the config's meta-architecture (``SearchBaseline`` over ``msinet_supernet``); the weight
  optimizer and schedule are the toolbox's (SOLVER.*: SGD lr 0.025 in the paper), alpha has an Adam
  of its own (SEARCH.ARCH_*) with its schedule stepped by an ``LRScheduler`` hook ("arch_lr");
- per-iteration step (``build_train_step``) is :class:`~msinet.search_step.SearchStep`: the
  architecture step on a valid batch, then the weight step on a train batch. The step holds what it
  works with (the objectives and memories, alpha's optimizer and schedule, the valid batches); the
  trainer reads them from it (``train_objective``, ``arch_optimizer``, ...);
- checkpoints also hold the architecture optimizer and schedule, both memories and the alpha history
  (registered with ``Checkpointer.add``), so ``--resume`` continues a search exactly.
SEARCH.PROTOCOL "authors" runs the authors' loop (see ``msinet.config``), including their epochs (one
pass of the identity sampler each, unless SOLVER.ITERS_PER_EPOCH fixes them), their warm-up (one
step per epoch) and their single validation stream.
Evaluation, checkpointing and logging are the DefaultTrainer's.
"""

from __future__ import annotations

import logging
from typing import List, NamedTuple, Sequence

import torch
import torch.nn as nn

from fastreid.data.common import CommDataset
from fastreid.data.epoch_batches import EpochBatches
from fastreid.engine import DefaultTrainer
from fastreid.engine import hooks as engine_hooks
from fastreid.solver import EpochLengths, WarmupScheduler
from fastreid.utils import comm
from fastreid.utils.comm import unwrap_model
from fastreid.utils.errors import ConfigValueError

from .sam import check_sam_mode
from .search_hooks import GenotypeLogger, MemoryRefresh
from .search_objectives import SEARCH_SCHEMES, SearchObjective, build_objective
from .search_step import ArchitectStep, SearchStep

__all__ = ["SearchTrainer", "SEARCH_PROTOCOLS", "SearchSplits", "build_arch_optimizer", "check_search_cfg",
           "search_splits", "sampler_pass_lengths", "weight_warmup_stepping"]

logger = logging.getLogger(__name__)

SEARCH_PROTOCOLS = ("paper", "authors")


def check_search_cfg(cfg) -> None:
    """The SEARCH keys, and MODEL.SAM.MODE, hold accepted values (checked even when SEARCH.ENABLED is
    False and the SAM loss is not trained, so a typo never waits silently for the day they are used)."""
    check_sam_mode(cfg.MODEL.SAM.MODE)
    s = cfg.SEARCH
    if s.SCHEME not in SEARCH_SCHEMES:
        raise ConfigValueError(f"SEARCH.SCHEME: {s.SCHEME!r} is not a search scheme; expected one of "
                         f"{', '.join(SEARCH_SCHEMES)}")
    if s.SCHEME == "softmax" and (s.TRAIN_RATIO < 1.0 or s.VALID_RATIO < 1.0):
        raise ConfigValueError(f"SEARCH.SCHEME 'softmax' shares one classifier between the splits, so it needs "
                         f"SEARCH.TRAIN_RATIO = SEARCH.VALID_RATIO = 1.0; got {s.TRAIN_RATIO} / {s.VALID_RATIO}")
    if s.MEMORY_INIT not in ("centroid", "zero"):
        raise ConfigValueError(f"SEARCH.MEMORY_INIT: {s.MEMORY_INIT!r}; expected centroid or zero")
    if s.PROTOCOL not in SEARCH_PROTOCOLS:
        raise ConfigValueError(f"SEARCH.PROTOCOL: {s.PROTOCOL!r}; expected one of {', '.join(SEARCH_PROTOCOLS)}")
    steps = list(s.ARCH_STEPS)
    if any(int(e) != e or e < 1 for e in steps) or steps != sorted(steps):
        raise ConfigValueError(f"SEARCH.ARCH_STEPS: {steps}; expected increasing whole epochs >= 1")
    if s.ENABLED and weight_warmup_stepping(cfg) == "epoch" and cfg.SOLVER.WARMUP_ITERS > 0:
        raise ConfigValueError(f"SOLVER.WARMUP_ITERS: {cfg.SOLVER.WARMUP_ITERS} iterations, but the search's warm-up "
                               f"steps once per epoch (SEARCH.PROTOCOL {s.PROTOCOL}, SOLVER.WARMUP_STEPPING "
                               f"{cfg.SOLVER.WARMUP_STEPPING!r}); expected 0 (and the length in SOLVER.WARMUP_EPOCHS)")


def weight_warmup_stepping(cfg) -> str:
    """How the weights' warm-up steps in the search: SOLVER.WARMUP_STEPPING when set, else per epoch under
    SEARCH.PROTOCOL "authors" (their scheduler steps at each epoch's end) and per iteration otherwise."""
    if cfg.SOLVER.WARMUP_STEPPING:
        return cfg.SOLVER.WARMUP_STEPPING
    return "epoch" if cfg.SEARCH.PROTOCOL == "authors" else "iteration"


class SearchSplits(NamedTuple):
    """The two parts of the search's identity split, with integer labels, and their class counts (a
    class may have no image in its part: the authors' empty train slots)."""

    train: list
    valid: list
    num_train_classes: int
    num_valid_classes: int


def search_splits(cfg) -> SearchSplits:
    """The search's identity split of the training set of DATASETS.NAMES (``msinet.search_split``)."""
    from fastreid.data import build_dataset
    from fastreid.data.data_utils import drop_unreadable

    from .search_split import split_class_counts, split_search_identities

    items = [it for name in cfg.DATASETS.NAMES
             for it in build_dataset(cfg, name, combineall=cfg.DATASETS.COMBINEALL).train]
    if cfg.DATASETS.SKIP_CORRUPT:
        items = drop_unreadable(items, "training set")
    rounding = "authors" if cfg.SEARCH.PROTOCOL == "authors" else "paper"
    ratios = (cfg.SEARCH.TRAIN_RATIO, cfg.SEARCH.VALID_RATIO)
    train, valid = split_search_identities(items, *ratios, rounding)
    num_train, num_valid = split_class_counts(len({it[1] for it in items}), *ratios, rounding)
    logger.info("Search split %.0f%% - %.0f%%: train %d images of %d identities (%d classes), valid %d images "
                "of %d", 100 * ratios[0], 100 * ratios[1], len(train), len({t[1] for t in train}), num_train,
                len(valid), num_valid)
    return SearchSplits(train, valid, num_train, num_valid)


def sampler_pass_lengths(data_loader, num_epochs: int) -> List[int]:
    """Iterations of epochs ``0 .. num_epochs - 1`` when each is one pass of ``data_loader``'s identity
    sampler (the authors' epoch: one pass of their ``RandomIdentitySampler``)."""
    sampler = getattr(getattr(data_loader, "batch_sampler", None), "sampler", None)
    if not callable(getattr(sampler, "batches_in_pass", None)):
        raise ConfigValueError(f"SEARCH.PROTOCOL authors: an epoch is one pass of the identity sampler, and "
                               f"{type(sampler).__name__} has no passes; expected DATALOADER.SAMPLER_TRAIN "
                               "NaiveIdentitySampler or BalancedIdentitySampler, or SOLVER.ITERS_PER_EPOCH > 0")
    return [sampler.batches_in_pass(e) for e in range(num_epochs)]


class SplitDataset(CommDataset):
    """One part of the split: labels as the split gives them (not re-indexed), ``num_classes`` the
    part's class count (which counts empty classes too)."""

    def __init__(self, items: Sequence, transform, num_classes: int) -> None:
        super().__init__(items, transform, relabel=False)
        self._num_classes = int(num_classes)

    @property
    def num_classes(self) -> int:
        return self._num_classes


# Offset of the valid loader's seed: with identical splits (the "overlap" schemes) the two loaders
# must still draw different batches, as the authors' independently shuffled loaders do.
_VALID_SEED_OFFSET = 7919


def _valid_seed_cfg(cfg):
    if cfg.SEED < 0:
        return cfg  # each loader then draws its own random seed
    cfg = cfg.clone()
    cfg.defrost()
    cfg.SEED = cfg.SEED + _VALID_SEED_OFFSET
    return cfg


def build_arch_optimizer(cfg, model: nn.Module) -> torch.optim.Optimizer:
    """Adam over ``model.arch_parameters()`` (lr SEARCH.ARCH_LR, betas, weight decay)."""
    params = list(unwrap_model(model).arch_parameters())
    if not params:
        raise ConfigValueError("SEARCH.ENABLED: the model has no architecture parameters (use msinet_supernet)")
    s = cfg.SEARCH
    return torch.optim.Adam(params, lr=s.ARCH_LR, betas=tuple(s.ARCH_BETAS), weight_decay=s.ARCH_WEIGHT_DECAY)


class SearchTrainer(DefaultTrainer):
    """Alternating first-order search: each iteration one alpha step (valid split) then one weight
    step (train split). See the module docstring; typical use is the DefaultTrainer's."""

    def __init__(self, cfg) -> None:
        check_search_cfg(cfg)
        if cfg.SOLVER.AMP.ENABLED:
            logger.warning("SOLVER.AMP.ENABLED is ignored by the search: both steps run in fp32")
        self.splits = search_splits(cfg)  # read and split once
        super().__init__(cfg)
        extra = {"arch_optimizer": self.arch_optimizer, "arch_scheduler": self.arch_scheduler,
                 "genotype_log": self.genotype_log}
        if self.train_objective.memory is not None:
            extra.update(train_memory=self.train_objective.memory, valid_memory=self.valid_objective.memory)
        for name, obj in extra.items():
            self.checkpointer.add(name, obj)

    # ------------------------------------------------------------------ what the step and the hooks hold
    @property
    def split_items(self) -> dict:
        """{"train": items, "valid": items} of the identity split."""
        return {"train": self.splits.train, "valid": self.splits.valid}

    @property
    def train_objective(self) -> SearchObjective:
        return self.train_step.objective

    @property
    def valid_objective(self) -> SearchObjective:
        return self.train_step.architect.objective

    @property
    def arch_optimizer(self) -> torch.optim.Optimizer:
        return self.train_step.architect.optimizer

    @property
    def arch_scheduler(self):
        return self.train_step.architect.scheduler

    @property
    def valid_loader(self):
        return self.train_step.valid_batches.loader

    @property
    def genotype_log(self) -> GenotypeLogger:
        return next(h for h in self._hooks if isinstance(h, GenotypeLogger))

    # ------------------------------------------------------------------ data
    def build_train_loader(self, cfg):
        """Infinite loader of the split's train part (training transforms, identity sampler)."""
        return self._split_loader(cfg, self.splits.train, self.splits.num_train_classes)

    @staticmethod
    def _split_loader(cfg, items, num_classes: int):
        from fastreid.data import build_reid_train_loader, build_transforms

        dataset = SplitDataset(items, build_transforms(cfg, is_train=True), num_classes)
        return build_reid_train_loader(cfg, train_set=dataset)

    @staticmethod
    def _iters_per_epoch(cfg, data_loader):
        """SEARCH.PROTOCOL "authors" with SOLVER.ITERS_PER_EPOCH 0: each epoch is one pass of the
        identity sampler (its length varies); otherwise the DefaultTrainer's epochs."""
        if cfg.SEARCH.PROTOCOL != "authors" or cfg.SOLVER.ITERS_PER_EPOCH > 0:
            return DefaultTrainer._iters_per_epoch(cfg, data_loader)
        lengths = sampler_pass_lengths(data_loader, cfg.SOLVER.MAX_EPOCH)
        logger.info("SEARCH.PROTOCOL authors: an epoch is one pass of the identity sampler: %d-%d iterations, "
                    "%d in %d epochs", min(lengths), max(lengths), sum(lengths), len(lengths))
        return lengths

    @classmethod
    def build_centroid_loader(cls, cfg, items):
        """This process's shard of ``items`` with test transforms, finite, for the memory centroids."""
        from torch.utils.data import DataLoader

        from fastreid.data import build_transforms, fast_batch_collator
        from fastreid.data.build import num_workers

        shard = list(items)[comm.get_rank()::comm.get_world_size()]
        dataset = CommDataset(shard, build_transforms(cfg, is_train=False), relabel=False)
        batch = max(1, cfg.TEST.IMS_PER_BATCH // comm.get_world_size())
        return DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=num_workers(cfg),
                          collate_fn=fast_batch_collator)

    # ------------------------------------------------------------------ schedules
    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer: torch.optim.Optimizer, iters_per_epoch):
        """The weights' schedule (SOLVER.*), its warm-up stepped as :func:`weight_warmup_stepping` says
        (under PROTOCOL "authors" once per epoch, as their scheduler, stepped at each epoch's end, does)."""
        stepping = weight_warmup_stepping(cfg)
        if stepping != cfg.SOLVER.WARMUP_STEPPING:
            cfg = cfg.clone()
            cfg.defrost()
            cfg.SOLVER.WARMUP_STEPPING = stepping
        return super().build_lr_scheduler(cfg, optimizer, iters_per_epoch)

    @classmethod
    def build_arch_scheduler(cls, cfg, optimizer: torch.optim.Optimizer, iters_per_epoch):
        """alpha's learning-rate schedule, stepped every iteration. PROTOCOL "paper": the weights'
        schedule shape (the paper: alpha decays "at the same pace"). "authors": 10x decays at the
        epochs of SEARCH.ARCH_STEPS, no warm-up (their per-epoch MultiStepLR)."""
        if cfg.SEARCH.PROTOCOL == "authors":
            epochs = EpochLengths(iters_per_epoch)
            return WarmupScheduler(optimizer, iters_per_epoch=epochs, max_iter=epochs.start(cfg.SOLVER.MAX_EPOCH),
                                   milestones=[int(e) for e in cfg.SEARCH.ARCH_STEPS], gamma=0.1)
        return cls.build_lr_scheduler(cfg, optimizer, iters_per_epoch)

    # ------------------------------------------------------------------ the step
    def build_train_step(self, cfg, model: nn.Module, data_loader, optimizer: torch.optim.Optimizer) -> SearchStep:
        """The search's step, holding what it works with: the objectives (a memory per split for TCM),
        the valid batches, alpha's Adam and its schedule (in the architecture step), for SEARCH.PROTOCOL."""
        net = unwrap_model(model)
        device = next(net.parameters()).device
        num_train, num_valid = self.splits.num_train_classes, self.splits.num_valid_classes
        if cfg.SEARCH.SCHEME == "softmax" and num_train != num_valid:
            raise ConfigValueError(f"SEARCH.SCHEME 'softmax': train and valid splits have {num_train} and {num_valid} "
                             "identities; expected the same identities in both")
        authors = cfg.SEARCH.PROTOCOL == "authors"
        arch_optimizer = build_arch_optimizer(cfg, net)
        architect = ArchitectStep(model, arch_optimizer, build_objective(cfg, num_valid, net.feat_dim, device),
                                  weight_optimizer=optimizer if authors else None,
                                  scheduler=self.build_arch_scheduler(cfg, arch_optimizer, self.iters_per_epoch))
        valid_loader = self._split_loader(_valid_seed_cfg(cfg), self.splits.valid, num_valid)
        return SearchStep(model, data_loader, optimizer, build_objective(cfg, num_train, net.feat_dim, device),
                          architect, EpochBatches(valid_loader), start_iter=cfg.SEARCH.ARCH_START_ITER,
                          skip_epoch_start=authors, accumulate=authors, valid_per_epoch=not authors)

    def build_hooks(self) -> List[engine_hooks.HookBase]:
        """The DefaultTrainer's hooks plus, in order: the memory refresh (first), alpha's schedule
        (after the timer), and the genotype logger (before evaluation and checkpointing)."""
        cfg = self.cfg
        ret = super().build_hooks()
        net = unwrap_model(self.model)
        ret.insert(1, engine_hooks.LRScheduler(self.arch_optimizer, self.arch_scheduler, name="arch_lr"))
        if self.train_objective.memory is not None:
            memories = {"train": self.train_objective.memory, "valid": self.valid_objective.memory}
            loaders = {k: (lambda items=items: self.build_centroid_loader(cfg, items))
                       for k, items in self.split_items.items()}
            ret.insert(0, MemoryRefresh(self.model, memories, loaders, cfg.SEARCH.MEMORY_INIT,
                                        cfg.SEARCH.MEMORY_REFRESH))
        # the epoch's alpha history is recorded before the epoch's checkpoint is written
        at = next(i for i, h in enumerate(ret)
                  if isinstance(h, (engine_hooks.PeriodicCheckpointer, engine_hooks.EvalHook)))
        ret.insert(at, GenotypeLogger(self.model, net.backbone.op_names, cfg.OUTPUT_DIR, cfg.SEARCH.GENOTYPE_PERIOD))
        return ret
