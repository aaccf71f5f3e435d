"""``IDMTrainer``: IDM's unsupervised domain adaptation, a labelled source (``UNSUP.SOURCE.NAMES``) and
an unlabelled target (``DATASETS.NAMES``) trained jointly in one stage, as IDM's authors do.

Every iteration takes a batch ``[source P x K; target P x K]`` (``SOLVER.IMS_PER_BATCH`` split in two
equal halves, each sampled by DATALOADER.SAMPLER_TRAIN) through :class:`~unsupreid.idm.IDMBaseline`.
Source labels are the source identities ``0 .. |S|-1``; target labels the clusters of the current round
offset by ``|S|``, so the two never collide in the classifier (``|S| + |T images|`` rows, cut to the
classes in use). Before the first iteration of a run the source rows are set to the normalised class
means of the source features (:class:`SourceClassRows`, once; a resumed run has them in its weights);
every clustering round (the target's images only: :class:`~unsupreid.pseudo_labels.PseudoLabels`, as in
:class:`~unsupreid.trainer.ClusterTrainer`) resets the target rows to the normalised cluster means
(:class:`TargetClassRows`) and replaces the target half of the batches. Resume, evaluation and the
clustering statistics are ClusterTrainer's.
"""

from __future__ import annotations

import logging
import os
from typing import Dict, Iterator, List, Tuple

import torch

from fastreid.data import build_dataset, build_reid_train_loader
from fastreid.data.build import fast_batch_collator, num_workers, require_identity_labels
from fastreid.data.common import CommDataset
from fastreid.data.data_utils import drop_unreadable
from fastreid.data.samplers import InferenceSampler, TrainingSampler
from fastreid.data.transforms import build_transforms
from fastreid.engine import DefaultTrainer
from fastreid.engine.hooks import HookBase
from fastreid.layers import class_centroids
from fastreid.utils import comm
from fastreid.utils.comm import unwrap_model
from fastreid.utils.errors import ConfigValueError

from .config import check_unsup_cfg
from .idm import IDMBaseline, export_deployable
from .pseudo_labels import PseudoLabels
from .trainer import ClusterTrainer, unlabelled_training_items

__all__ = ["IDMTrainer", "DomainPairLoader", "SourceClassRows", "TargetClassRows", "TargetPseudoLabels",
           "DeployableCopies", "source_training_items", "per_domain_cfg"]

logger = logging.getLogger(__name__)

Item = Tuple[str, object, object]


def source_training_items(cfg) -> List[Item]:
    """The labelled training images of UNSUP.SOURCE.NAMES, ``(path, pid, camid)`` sorted by path."""
    names = tuple(cfg.UNSUP.SOURCE.NAMES)
    items: List[Item] = []
    for name in names:
        items.extend(build_dataset(cfg, name).train)
    if cfg.DATASETS.SKIP_CORRUPT:
        items = drop_unreadable(items, "source training set")
    if not items:
        raise ConfigValueError(f"UNSUP.SOURCE.NAMES {names}: no training images; expected a labelled source")
    require_identity_labels(items, names)
    return sorted(items, key=lambda it: it[0])


def per_domain_cfg(cfg):
    """``cfg`` with SOLVER.IMS_PER_BATCH halved: the batch each domain's loader serves."""
    out = cfg.clone()
    out.defrost()
    out.SOLVER.IMS_PER_BATCH = cfg.SOLVER.IMS_PER_BATCH // 2
    out.freeze()
    return out


class DomainPairLoader:
    """One batch per step: the next source batch and the next target batch, concatenated
    ``[source; target]``, the target labels offset by ``offset`` (the source's class count).

    ``set_epoch(epoch, start_iter)`` restarts both streams (``EpochBatches`` calls it at every epoch), so
    a resumed run sees the batches of an uninterrupted one; ``dataset`` is the target's training set."""

    def __init__(self, source, target, offset: int) -> None:
        self.source, self.target, self.offset = source, target, int(offset)

    @property
    def dataset(self):
        return self.target.dataset

    def set_epoch(self, epoch: int, start_iter: int = 0) -> None:
        self.source.set_epoch(epoch, start_iter)
        self.target.set_epoch(epoch, start_iter)

    def __iter__(self) -> Iterator[Dict]:
        for s, t in zip(self.source, self.target):
            batch = {}
            for key, value in s.items():
                other = t[key]
                if key == "targets":
                    other = other + self.offset
                batch[key] = torch.cat([value, other]) if isinstance(value, torch.Tensor) else list(value) + list(other)
            yield batch


class SourceClassRows(HookBase):
    """Sets the classifier's source rows once per run, before its first iteration (IDM: the normalised
    class means of the source features); checkpointed, so a resumed run keeps its trained rows."""

    def __init__(self) -> None:
        self.done = False

    def before_train(self) -> None:
        if not self.done:
            self.trainer.set_source_rows()
            self.done = True

    def state_dict(self) -> Dict[str, bool]:
        return {"done": self.done}

    def load_state_dict(self, state: Dict[str, bool]) -> None:
        self.done = bool(state.get("done", False))


class TargetClassRows:
    """The target rows of IDM's classifier, in the role :class:`PseudoLabels` gives a cluster memory:
    ``rebuild(centroids)`` writes the round's normalised cluster means after the source rows and puts
    ``|S| + clusters`` classes in use; ``memory.slots`` (saved with the pseudo-labels) are those rows, so
    a run resumed between rounds restores the same rows its model weights hold."""

    def __init__(self, model: IDMBaseline, num_source: int) -> None:
        self.model, self.num_source = model, int(num_source)

    def rebuild(self, centroids: torch.Tensor) -> None:
        self.model.set_class_rows(self.num_source, centroids)
        self.model.active_classes = self.num_source + len(centroids)

    @property
    def memory(self):
        return self if self.model.active_classes > self.num_source else None

    @property
    def slots(self) -> torch.Tensor:
        return self.model.heads.classifier.weight[self.num_source:self.model.active_classes].detach().clone()


class TargetPseudoLabels(PseudoLabels):
    """ClusterTrainer's clustering rounds on the target images, writing IDM's target classifier rows."""

    def _loss(self) -> TargetClassRows:  # type: ignore[override]
        return TargetClassRows(unwrap_model(self.trainer.model), self.trainer.num_source_classes)


class DeployableCopies(HookBase):
    """Beside every new ``model_best.pth`` / ``model_final.pth`` (main process), ``model_best_deploy.pth`` /
    ``model_final_deploy.pth``: the target network in the plain model's layout
    (:func:`~unsupreid.idm.export_deployable`), which the toolbox's tools (extract_features, query,
    export_onnx: ``DefaultPredictor``) load strictly with the run's config. The full checkpoints stay
    what ``--resume`` and ``--eval-only`` read."""

    NAMES = ("model_best", "model_final")

    def __init__(self, output_dir: str) -> None:
        self.output_dir = output_dir
        self._written: Dict[str, int] = {}

    def after_epoch(self) -> None:
        self._refresh()

    def after_train(self) -> None:
        self._refresh()

    def _refresh(self) -> None:
        for name in self.NAMES:
            path = os.path.join(self.output_dir, f"{name}.pth")
            if not os.path.isfile(path) or self._written.get(name) == os.stat(path).st_mtime_ns:
                continue
            self._written[name] = os.stat(path).st_mtime_ns
            dst = export_deployable(path, os.path.join(self.output_dir, f"{name}_deploy.pth"))
            logger.info("IDM: deployable copy %s", dst)


class IDMTrainer(ClusterTrainer):
    """IDM's joint source + target training (see the module docstring); ``cfg.UNSUP.IDM.ENABLED``."""

    def __init__(self, cfg) -> None:
        # ClusterTrainer's set-up with IDM's source, class count and hooks (its __init__ is not called:
        # it builds the plain pseudo-labels hook and the one-domain loader)
        check_unsup_cfg(cfg)
        self.unlabelled = unlabelled_training_items(cfg)
        self.source_items = source_training_items(cfg)
        self.source_set = CommDataset(self.source_items, build_transforms(cfg, is_train=True), relabel=True)
        self.num_source_classes = self.source_set.num_classes
        cfg = self._with_class_count(cfg)
        self.domain_cfg = per_domain_cfg(cfg)
        self.source_loader = build_reid_train_loader(self.domain_cfg, train_set=self.source_set)
        self.pseudo_labels = TargetPseudoLabels(self.unlabelled, cfg.UNSUP.CLUSTER,
                                                cfg.OUTPUT_DIR if comm.is_main_process() else "")
        self.source_rows = SourceClassRows()
        DefaultTrainer.__init__(self, cfg)
        self.checkpointer.add("pseudo_labels", self.pseudo_labels)
        self.checkpointer.add("idm_source_rows", self.source_rows)
        logger.info("IDM: source %s, %d images of %d identities; target %s, %d images; %d + %d per batch",
                    tuple(cfg.UNSUP.SOURCE.NAMES), len(self.source_items), self.num_source_classes,
                    tuple(cfg.DATASETS.NAMES), len(self.unlabelled), self.domain_cfg.SOLVER.IMS_PER_BATCH,
                    self.domain_cfg.SOLVER.IMS_PER_BATCH)

    def _with_class_count(self, cfg):
        """MODEL.HEADS.NUM_CLASSES := ``|S| + |T images|`` (IDM's classifier size; 0 in the config means
        "fill in", any other value must be that one)."""
        need = self.num_source_classes + len(self.unlabelled)
        have = int(cfg.MODEL.HEADS.NUM_CLASSES)
        if have not in (0, need):
            raise ConfigValueError(f"MODEL.HEADS.NUM_CLASSES: {have}; IDM's classifier has one row per source identity "
                                   f"and per target image, {self.num_source_classes} + {len(self.unlabelled)} = "
                                   f"{need}; expected 0 (filled in) or {need}")
        return DefaultTrainer.auto_scale_hyperparams(cfg, need)

    @classmethod
    def build_model(cls, cfg) -> torch.nn.Module:
        """The toolbox's ``Baseline`` for ``cfg`` made an :class:`~unsupreid.idm.IDMBaseline` (its classifier
        trained, not frozen: IDM's cross entropies read it)."""
        from fastreid.modeling.meta_arch.build import build_model

        model = IDMBaseline.from_baseline(build_model(cfg), cfg)
        logger.info("IDM model (IDM after '%s'):\n%s", model.point, model)
        return model

    # ------------------------------------------------------------------ data
    def build_train_loader(self, cfg):
        """Before the first round: source batches beside every target image under one placeholder label."""
        items = [(path, 0, camid) for path, _, camid in self.unlabelled]
        target_set = CommDataset(items, build_transforms(cfg, is_train=True), relabel=True)
        target = build_reid_train_loader(self.domain_cfg, train_set=target_set,
                                         sampler=TrainingSampler(len(items), shuffle=True, seed=max(cfg.SEED, 0)))
        return DomainPairLoader(self.source_loader, target, self.num_source_classes)

    def pseudo_label_sampler(self, train_set: CommDataset):
        """ClusterTrainer's sampler over a round's clusters, sized for the target half of the batch."""
        whole, self.cfg = self.cfg, self.domain_cfg
        try:
            return super().pseudo_label_sampler(train_set)
        finally:
            self.cfg = whole

    def replace_train_set(self, train_set, sampler=None) -> None:
        """The target half of the batches from ``train_set`` (a round's pseudo-labelled target images)."""
        if len(train_set) == 0:
            raise ConfigValueError("replace_train_set: the new target training set is empty; expected images")
        target = build_reid_train_loader(self.domain_cfg, train_set=train_set, sampler=sampler)
        self._trainer.set_data_loader(DomainPairLoader(self.source_loader, target, self.num_source_classes))

    def features_of(self, items) -> torch.Tensor:
        """(N, D) L2-normalised eval-mode features of ``items`` (test transforms, no flip), in order; each
        process extracts its share and every process gets all of them."""
        from fastreid.evaluation.features import extract_features

        dataset = CommDataset([(p, 0, c) for p, _, c in items], build_transforms(self.cfg, is_train=False),
                              relabel=False)
        sampler = InferenceSampler(len(dataset))
        loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=torch.utils.data.BatchSampler(sampler, self.cfg.UNSUP.CLUSTER.IMS_PER_BATCH,
                                                                 drop_last=False),
            num_workers=num_workers(self.cfg), collate_fn=fast_batch_collator)
        feats = extract_features(self.extraction_model(), loader, gather=True).features
        if len(feats) != len(items):
            raise RuntimeError(f"IDM features: {len(feats)} rows gathered for {len(items)} images")
        return torch.nn.functional.normalize(feats.float(), dim=1)

    def set_source_rows(self) -> None:
        """Classifier rows ``0 .. |S|-1`` := the normalised class means of the source images' features."""
        feats = self.features_of(self.source_items)
        labels = torch.tensor([self.source_set.pid_dict[pid] for _, pid, _ in self.source_items])
        unwrap_model(self.model).set_class_rows(0, class_centroids(feats, labels, self.num_source_classes))
        logger.info("IDM: classifier rows of the %d source identities set to their class means",
                    self.num_source_classes)

    # ------------------------------------------------------------------ hooks
    def build_hooks(self):
        """The source rows first (before_train), then ClusterTrainer's hooks (the round first), then (main
        process, after the checkpoints) the deployable copies."""
        ret = [self.source_rows] + super().build_hooks()
        if comm.is_main_process() and self.cfg.OUTPUT_DIR:
            ret.append(DeployableCopies(self.cfg.OUTPUT_DIR))
        return ret
