"""SearchTrainer: the differentiable architecture search of MSINet as a toolbox trainer.

``projects/MSINet/train_net.py`` uses it when SEARCH.ENABLED. It is a ``DefaultTrainer`` whose
- identity split (SEARCH.TRAIN_RATIO / VALID_RATIO, ``msinet.search_split``) is built once: its *train*
  part is the training set, its *valid* part feeds a second loader, both feed the memories' centroids;
- model is the config's meta-architecture (``SearchBaseline`` over ``msinet_supernet``); the weight
  optimizer and schedule are the toolbox's (SOLVER.*: SGD lr 0.025 in the paper), alpha has an Adam
  of its own (SEARCH.ARCH_*) with its schedule stepped by an ``LRScheduler`` hook ("arch_lr");
- per-iteration step (``build_train_step``) is :class:`~msinet.search_step.SearchStep`: the
  architecture step on a valid batch, then the weight step on a train batch;
- checkpoints also hold the architecture optimizer and schedule, both memories and the alpha history
  (registered with ``Checkpointer.add``), so ``--resume`` continues a search exactly.
Evaluation, checkpointing and logging are the DefaultTrainer's.
"""

from __future__ import annotations

import logging
from typing import List, Tuple

import torch
import torch.nn as nn

from fastreid.data.epoch_batches import EpochBatches
from fastreid.engine import DefaultTrainer
from fastreid.engine import hooks as engine_hooks
from fastreid.utils import comm
from fastreid.utils.comm import unwrap_model
from fastreid.utils.errors import ConfigValueError

from .sam import check_sam_mode
from .search_hooks import GenotypeLogger, MemoryRefresh
from .search_objectives import SEARCH_SCHEMES, build_objective
from .search_step import ArchitectStep, SearchStep

__all__ = ["SearchTrainer", "SEARCH_PROTOCOLS", "build_arch_optimizer", "check_search_cfg", "search_splits"]

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


def search_splits(cfg) -> Tuple[list, list]:
    """(train_items, valid_items) of the search: the training set of DATASETS.NAMES split by identity."""
    from fastreid.data import build_dataset
    from fastreid.data.data_utils import drop_unreadable

    from .search_split import split_search_identities

    items = [it for name in cfg.DATASETS.NAMES
             for it in build_dataset(cfg, name, combineall=cfg.DATASETS.COMBINEALL).train]
    if cfg.DATASETS.SKIP_CORRUPT:
        items = drop_unreadable(items, "training set")
    rounding = "authors" if cfg.SEARCH.PROTOCOL == "authors" else "paper"
    train, valid = split_search_identities(items, cfg.SEARCH.TRAIN_RATIO, cfg.SEARCH.VALID_RATIO, rounding)
    logger.info("Search split %.0f%% - %.0f%%: train %d images of %d identities, valid %d images of %d",
                100 * cfg.SEARCH.TRAIN_RATIO, 100 * cfg.SEARCH.VALID_RATIO, len(train),
                len({t[1] for t in train}), len(valid), len({v[1] for v in valid}))
    return train, valid


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
        self.split_items = dict(zip(("train", "valid"), search_splits(cfg)))  # read and split once
        super().__init__(cfg)
        extra = {"arch_optimizer": self.arch_optimizer, "arch_scheduler": self.arch_scheduler,
                 "genotype_log": self.genotype_log}
        if self.train_objective.memory is not None:
            extra.update(train_memory=self.train_objective.memory, valid_memory=self.valid_objective.memory)
        for name, obj in extra.items():
            self.checkpointer.add(name, obj)

    # ------------------------------------------------------------------ data
    def build_train_loader(self, cfg):
        """Infinite loader of the split's train part (training transforms, identity sampler)."""
        return self._split_loader(cfg, self.split_items["train"])

    @staticmethod
    def _split_loader(cfg, items):
        from fastreid.data import CommDataset, build_reid_train_loader, build_transforms

        return build_reid_train_loader(cfg, train_set=CommDataset(items, build_transforms(cfg, is_train=True)))

    @classmethod
    def build_centroid_loader(cls, cfg, items):
        """This process's shard of ``items`` with test transforms, finite, for the memory centroids."""
        from torch.utils.data import DataLoader

        from fastreid.data import CommDataset, build_transforms, fast_batch_collator
        from fastreid.data.build import num_workers

        shard = list(items)[comm.get_rank()::comm.get_world_size()]
        dataset = CommDataset(shard, build_transforms(cfg, is_train=False), relabel=False)
        batch = max(1, cfg.TEST.IMS_PER_BATCH // comm.get_world_size())
        return DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=num_workers(cfg),
                          collate_fn=fast_batch_collator)

    @classmethod
    def build_arch_scheduler(cls, cfg, optimizer: torch.optim.Optimizer, iters_per_epoch: int):
        """alpha's learning-rate schedule, stepped every iteration. PROTOCOL "paper": the weights'
        schedule shape (the paper: alpha decays "at the same pace"). "authors": 10x decays at the
        epochs of SEARCH.ARCH_STEPS, no warm-up (their per-epoch MultiStepLR, in iterations)."""
        if cfg.SEARCH.PROTOCOL == "authors":
            milestones = [int(e) * iters_per_epoch for e in cfg.SEARCH.ARCH_STEPS]
            return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
        return cls.build_lr_scheduler(cfg, optimizer, iters_per_epoch)

    # ------------------------------------------------------------------ the step
    def build_train_step(self, cfg, model: nn.Module, data_loader, optimizer: torch.optim.Optimizer) -> SearchStep:
        """The search's step: objectives (a memory per split for TCM), the valid loader, alpha's Adam
        and its schedule, the architecture step and the weight step, for SEARCH.PROTOCOL."""
        net = unwrap_model(model)
        device = next(net.parameters()).device
        num_train = len({t[1] for t in self.split_items["train"]})
        num_valid = len({v[1] for v in self.split_items["valid"]})
        if cfg.SEARCH.SCHEME == "softmax" and num_train != num_valid:
            raise ConfigValueError(f"SEARCH.SCHEME 'softmax': train and valid splits have {num_train} and {num_valid} "
                             "identities; expected the same identities in both")
        self.train_objective = build_objective(cfg, num_train, net.feat_dim, device)
        self.valid_objective = build_objective(cfg, num_valid, net.feat_dim, device)
        self.valid_loader = self._split_loader(_valid_seed_cfg(cfg), self.split_items["valid"])
        self.arch_optimizer = build_arch_optimizer(cfg, net)
        self.arch_scheduler = self.build_arch_scheduler(cfg, self.arch_optimizer, self.iters_per_epoch)
        authors = cfg.SEARCH.PROTOCOL == "authors"
        architect = ArchitectStep(model, self.arch_optimizer, self.valid_objective,
                                  weight_optimizer=optimizer if authors else None)
        return SearchStep(model, data_loader, optimizer, self.train_objective, architect,
                          EpochBatches(self.valid_loader), start_iter=cfg.SEARCH.ARCH_START_ITER,
                          skip_epoch_start=authors, accumulate=authors)

    def build_hooks(self) -> List[engine_hooks.HookBase]:
        """The DefaultTrainer's hooks plus, in order: the memory refresh (first), alpha's schedule
        (after the timer), and the genotype logger (before evaluation and checkpointing)."""
        cfg = self.cfg
        ret = super().build_hooks()
        net = unwrap_model(self.model)
        self.genotype_log = GenotypeLogger(self.model, net.backbone.op_names, cfg.OUTPUT_DIR,
                                           cfg.SEARCH.GENOTYPE_PERIOD)
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
        ret.insert(at, self.genotype_log)
        return ret
