"""``ClusterTrainer``: the toolbox's ``DefaultTrainer`` trained on pseudo-labels from clustering rounds.

The training images' identity labels are hidden from the method as soon as they are read: the trainer
keeps them only for measuring pseudo-label quality (:class:`~unsupreid.pseudo_labels.PseudoLabels`).
Until the first round (the start of epoch 0, before any iteration) the loader serves every image under
one placeholder label; each round replaces the training set through ``DefaultTrainer.replace_train_set``
and rebuilds the ClusterNCE memory. Evaluation, checkpoints, resume and DDP are the default trainer's.
"""

from __future__ import annotations

import copy
import logging
from typing import List, Tuple

import torch

from fastreid.data import build_dataset, build_reid_train_loader
from fastreid.data.build import build_train_sampler, check_train_sampler_cfg, fast_batch_collator, num_workers
from fastreid.data.common import CommDataset
from fastreid.data.data_utils import drop_unreadable
from fastreid.data.samplers import InferenceSampler, TrainingSampler
from fastreid.data.samplers.base import resolve_seed
from fastreid.data.transforms import build_transforms
from fastreid.engine import DefaultTrainer
from fastreid.utils import comm
from fastreid.utils.comm import unwrap_model
from fastreid.utils.errors import ConfigValueError

from .config import check_unsup_cfg
from .pseudo_labels import PseudoLabels

__all__ = ["ClusterTrainer", "unlabelled_training_items", "freeze_classifiers"]

logger = logging.getLogger(__name__)

Item = Tuple[str, object, object]


def unlabelled_training_items(cfg) -> List[Item]:
    """The training images of DATASETS.NAMES as ``(path, hidden_label, camid)``, sorted by path.

    ``hidden_label`` is the data set's identity (prefixed with the data set's name) for quality
    measurement only."""
    items: List[Item] = []
    for name in cfg.DATASETS.NAMES:
        items.extend(build_dataset(cfg, name, combineall=cfg.DATASETS.COMBINEALL).train)
    if cfg.DATASETS.SKIP_CORRUPT:
        items = drop_unreadable(items, "training set")
    if not items:
        raise ConfigValueError(f"DATASETS.NAMES {tuple(cfg.DATASETS.NAMES)}: no training images; expected images")
    need = int(cfg.UNSUP.CLUSTER.MIN_SAMPLES)
    if len(items) < max(need, 2):
        raise ConfigValueError(f"DATASETS.NAMES {tuple(cfg.DATASETS.NAMES)}: {len(items)} training images, fewer "
                               f"than UNSUP.CLUSTER.MIN_SAMPLES {need} (a cluster needs that many); expected more "
                               "images or a smaller MIN_SAMPLES")
    return sorted(items, key=lambda it: it[0])


def freeze_classifiers(model: torch.nn.Module) -> List[str]:
    """Freeze the head's identity classifier(s) (parameters named ``*classifier*``); returns their names.

    Pseudo-labels live in the cluster memory: no loss of the method (ClusterNCE, triplet) reads the
    classifier's logits, so its weights never get a gradient, and DistributedDataParallel, which waits
    for the gradient of every trainable parameter, would stop at the second iteration."""
    frozen = []
    for name, p in unwrap_model(model).named_parameters():
        if "classifier" in name.rsplit(".", 1)[0] and p.requires_grad:
            p.requires_grad_(False)
            frozen.append(name)
    return frozen


class ClusterTrainer(DefaultTrainer):
    """Clustering-based unsupervised training (Cluster Contrast) with any registered backbone and head."""

    def __init__(self, cfg) -> None:
        check_unsup_cfg(cfg)
        self.unlabelled = unlabelled_training_items(cfg)
        self.pseudo_labels = PseudoLabels(self.unlabelled, cfg.UNSUP.CLUSTER,
                                          cfg.OUTPUT_DIR if comm.is_main_process() else "")
        super().__init__(cfg)
        self.checkpointer.add("pseudo_labels", self.pseudo_labels)

    @classmethod
    def build_model(cls, cfg) -> torch.nn.Module:
        """The toolbox's model with its head's identity classifier frozen (:func:`freeze_classifiers`)."""
        model = super().build_model(cfg)
        frozen = freeze_classifiers(model)
        if frozen:
            logger.info("Frozen (no unsupervised loss reads them): %s", ", ".join(frozen))
        return model

    # ------------------------------------------------------------------ data
    def build_train_loader(self, cfg):
        """Before the first round: every training image under one placeholder label, plain shuffling."""
        items = [(path, 0, camid) for path, _, camid in self.unlabelled]
        train_set = CommDataset(items, build_transforms(cfg, is_train=True), relabel=True)
        return build_reid_train_loader(cfg, train_set=train_set,
                                       sampler=TrainingSampler(len(items), shuffle=True, seed=max(cfg.SEED, 0)))

    def pseudo_labelled_set(self, items) -> CommDataset:
        """The training set of a round: ``(path, cluster, camid)`` with the training transforms."""
        return CommDataset(items, build_transforms(self.cfg, is_train=True), relabel=True)

    def pseudo_label_sampler(self, train_set: CommDataset):
        """DATALOADER.SAMPLER_TRAIN over a round's clusters. A round that found fewer clusters than a
        batch holds (early rounds often do: a few large clusters) repeats clusters within a batch, with a
        warning, rather than stopping the run; later rounds usually find more."""
        cfg = self.cfg
        per_process = cfg.SOLVER.IMS_PER_BATCH // comm.get_world_size()
        need = per_process // max(cfg.DATALOADER.NUM_INSTANCE, 1) * comm.get_world_size()
        if check_train_sampler_cfg(cfg) != "GroupSampler" and train_set.num_classes < need:
            logger.warning("This round found %d clusters, fewer than the %d a batch holds (SOLVER.IMS_PER_BATCH / "
                           "DATALOADER.NUM_INSTANCE): clusters repeat within a batch this round; a lower "
                           "UNSUP.CLUSTER.EPS finds more, smaller clusters", train_set.num_classes, need)
        return build_train_sampler(cfg, train_set.img_items, per_process, resolve_seed(cfg.SEED),
                                   repeat_identities=True)

    def training_set_features(self) -> torch.Tensor:
        """(N, D) L2-normalised eval-mode features of every training image (sorted by path), the test
        transforms and no flip, each process extracting its share, gathered in order."""
        from fastreid.evaluation.features import extract_features

        items = [(path, 0, camid) for path, _, camid in self.unlabelled]
        dataset = CommDataset(items, build_transforms(self.cfg, is_train=False), relabel=False)
        per_process = self.cfg.UNSUP.CLUSTER.IMS_PER_BATCH
        sampler = InferenceSampler(len(dataset))
        loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=torch.utils.data.BatchSampler(sampler, per_process, drop_last=False),
            num_workers=num_workers(self.cfg), collate_fn=fast_batch_collator)
        feats = extract_features(self.extraction_model(), loader, gather=True).features
        if len(feats) != len(items):
            raise RuntimeError(f"clustering features: {len(feats)} rows gathered for {len(items)} images")
        return torch.nn.functional.normalize(feats.float(), dim=1)

    def extraction_model(self) -> torch.nn.Module:
        """The inference copy of the model whose features a round clusters; under DDP with rank 0's
        buffers: BN statistics stay per-process in training, and every shard of the training set must be
        described by one model (a process's statistics would otherwise split the clusters by shard)."""
        from fastreid.modeling.inference import inference_model

        net = unwrap_model(self.model)
        if comm.get_world_size() > 1:
            net = copy.deepcopy(net)
            for buf in net.buffers():
                torch.distributed.broadcast(buf, src=0)
        return inference_model(net)

    # ------------------------------------------------------------------ hooks
    def build_hooks(self):
        """The default hooks with the clustering round first (it must run before the epoch's first step)."""
        return [self.pseudo_labels] + super().build_hooks()
