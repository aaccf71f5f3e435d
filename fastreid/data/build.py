"""Loader builders: the training loader (infinite, identity-sampled) and the test loader (query then gallery).

Dataset root: ``DATASETS.ROOT`` when set, else ``$FASTREID_DATASETS``, else ``datasets``. Batches are
dicts ``{"images": float (B, 3, H, W) 0..255, "targets": long (B,), "camids": long (B,),
"img_paths": list of str}`` on the CPU (pinned only when CUDA is available).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch.utils.data import BatchSampler, DataLoader

from fastreid.utils import comm
from fastreid.utils.errors import ConfigValueError

from .common import CommDataset
from .data_utils import check_image_file, drop_unreadable
from .datasets import DATASET_REGISTRY
from .datasets.bases import ImageDataset, check_query_gallery
from .samplers import (
    BalancedIdentitySampler,
    GroupSampler,
    InferenceSampler,
    NaiveIdentitySampler,
    SeededBatchSampler,
    TrainingSampler,
)
from .samplers.base import resolve_seed
from .samplers.group_sampler import check_group_size
from .transforms import build_transforms

__all__ = ["build_reid_train_loader", "build_reid_test_loader", "build_dataset", "dataset_root",
           "fast_batch_collator", "TrainLoader", "num_workers", "check_train_sampler_cfg",
           "require_identity_labels"]

logger = logging.getLogger(__name__)

_SAMPLERS = ("TrainingSampler", "NaiveIdentitySampler", "BalancedIdentitySampler", "GroupSampler")
_capped_once = False


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def num_workers(cfg) -> int:
    """DATALOADER.NUM_WORKERS capped to the CPUs this process may use (said once per process): more
    loader processes than CPUs only compete with training, and PyTorch warns about it."""
    global _capped_once
    asked = int(cfg.DATALOADER.NUM_WORKERS)
    if asked < 0:
        raise ConfigValueError(f"DATALOADER.NUM_WORKERS: {asked}; expected 0 (load in the main process) or more")
    cpus = usable_cpus()
    if asked > cpus:
        if not _capped_once:
            logger.info("DATALOADER.NUM_WORKERS %d capped to %d: this process may use %d CPU(s)", asked, cpus, cpus)
            _capped_once = True
        return cpus
    return asked


def dataset_root(cfg=None) -> str:
    """``cfg.DATASETS.ROOT`` if set, else ``$FASTREID_DATASETS``, else ``"datasets"``."""
    if cfg is not None and cfg.DATASETS.ROOT:
        return os.path.expanduser(cfg.DATASETS.ROOT)
    return os.path.expanduser(os.environ.get("FASTREID_DATASETS", "") or "datasets")


def build_dataset(cfg, name: str, **kwargs: Any) -> ImageDataset:
    """Instantiate the registered dataset ``name`` under ``dataset_root(cfg)``.

    Constructor arguments: the dataset's ``kwargs_from_config(cfg)`` overridden by ``kwargs``; the
    statistics table is logged on the main process only.
    """
    cls = DATASET_REGISTRY.get(name)
    kw: Dict[str, Any] = dict(cls.kwargs_from_config(cfg)) if hasattr(cls, "kwargs_from_config") else {}
    kw.update(kwargs)
    kw.setdefault("verbose", comm.is_main_process())
    return cls(root=dataset_root(cfg), **kw)


def fast_batch_collator(batch: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Stack a list of ``CommDataset`` samples into one batch dict (tensors stacked, ints as long)."""
    out: Dict[str, Any] = {}
    for key in batch[0]:
        vals = [b[key] for b in batch]
        if isinstance(vals[0], torch.Tensor):
            out[key] = torch.stack(vals)
        elif isinstance(vals[0], int):
            out[key] = torch.tensor(vals, dtype=torch.long)
        elif isinstance(vals[0], float):
            out[key] = torch.tensor(vals, dtype=torch.float64)
        else:
            out[key] = list(vals)
    return out


class TrainLoader(DataLoader):
    """An infinite DataLoader with ``set_epoch(epoch, start_iter=0)`` for exact restarts.

    Call ``set_epoch`` and then ``iter(loader)`` at the start of every epoch; see
    ``fastreid.data.samplers`` for the guarantee.
    """

    def set_epoch(self, epoch: int, start_iter: int = 0) -> None:
        """Make the next ``iter()`` start at iteration ``start_iter`` of ``epoch``."""
        self.batch_sampler.set_epoch(epoch, start_iter)


def _per_process(total: int, key: str) -> int:
    world = comm.get_world_size()
    if total <= 0 or total % world != 0:
        raise ConfigValueError(f"{key}: {total} is not divisible by the {world} process(es); expected a positive multiple")
    return total // world


def check_train_sampler_cfg(cfg) -> str:
    """The canonical name of ``DATALOADER.SAMPLER_TRAIN``, with the sampler's own keys checked
    (``DATALOADER.GROUP_SIZE`` >= 1 for the GroupSampler): a trainer that builds its sampler later (a
    clustering round) calls it at its start, so a bad value stops the run before any work."""
    name = cfg.DATALOADER.SAMPLER_TRAIN
    lowered = {n.lower(): n for n in _SAMPLERS}
    if name.lower() not in lowered:
        raise ConfigValueError(f"DATALOADER.SAMPLER_TRAIN: '{name}' is not a training sampler; expected one of "
                         f"{', '.join(_SAMPLERS)}")
    name = lowered[name.lower()]
    if name == "GroupSampler":
        check_group_size(cfg.DATALOADER.GROUP_SIZE)
    return name


def build_train_sampler(cfg, data_source: Sequence, mini_batch_size: int, seed: int,
                        repeat_identities: bool = False):
    """The sampler named by ``DATALOADER.SAMPLER_TRAIN`` for this process; ``repeat_identities`` lets an
    identity sampler repeat identities within a batch when there are fewer than a batch holds."""
    name = check_train_sampler_cfg(cfg)
    if name == "TrainingSampler":
        return TrainingSampler(len(data_source), shuffle=True, seed=seed)
    if name == "GroupSampler":
        return GroupSampler(data_source, mini_batch_size, cfg.DATALOADER.GROUP_SIZE, seed=seed)
    cls = NaiveIdentitySampler if name == "NaiveIdentitySampler" else BalancedIdentitySampler
    return cls(data_source, mini_batch_size, cfg.DATALOADER.NUM_INSTANCE, seed=seed,
               repeat_identities=repeat_identities)


def require_identity_labels(items: Sequence[Tuple[str, Any, Any]], names: Sequence[str]) -> None:
    """Stop supervised training on images without identity labels (an unlabelled CustomReID folder
    gives identity None), which would otherwise train a classifier of one class without a word."""
    unlabelled = sum(1 for it in items if it[1] is None)
    if unlabelled:
        raise ConfigValueError(f"DATASETS.NAMES {tuple(names)}: {unlabelled} of {len(items)} training images "
                               "have no identity label (an unlabelled folder); supervised training needs "
                               "identity labels; projects/UnsupReID trains without them (pseudo-labels)")


def build_reid_train_loader(cfg, *, train_set: Optional[CommDataset] = None, sampler=None) -> TrainLoader:
    """Infinite training loader over ``DATASETS.NAMES`` (labels prefixed per dataset, then relabelled).
    Every image file passes :func:`~fastreid.data.data_utils.check_image_file` first (no decoding),
    unless DATASETS.SKIP_CORRUPT drops the unreadable ones.

    ``train_set`` replaces the datasets (a ``CommDataset`` with its transform); ``sampler`` replaces
    the index sampler (it must yield indices of ``train_set`` for this process). Batches hold
    ``SOLVER.IMS_PER_BATCH / world_size`` images; ``loader.dataset.num_classes`` is the number of
    training identities. Seeds come from ``cfg.SEED`` when it is >= 0.
    """
    if train_set is None:
        items: List[Tuple[str, Any, Any]] = []
        for name in cfg.DATASETS.NAMES:
            items.extend(build_dataset(cfg, name, combineall=cfg.DATASETS.COMBINEALL).train)
        if cfg.DATASETS.SKIP_CORRUPT:
            items = drop_unreadable(items, "training set")
        else:  # as the test sets are checked: a corrupt image stops the run now, not in its middle
            for path, *_ in items:
                check_image_file(path)
        if not items:
            raise ConfigValueError(f"DATASETS.NAMES {tuple(cfg.DATASETS.NAMES)}: the training set is empty; expected images")
        require_identity_labels(items, cfg.DATASETS.NAMES)
        train_set = CommDataset(items, build_transforms(cfg, is_train=True), relabel=True)
    mini_batch = _per_process(cfg.SOLVER.IMS_PER_BATCH, "SOLVER.IMS_PER_BATCH")
    seed = resolve_seed(cfg.SEED)
    if sampler is None:
        sampler = build_train_sampler(cfg, train_set.img_items, mini_batch, seed)
    workers = num_workers(cfg)
    return TrainLoader(
        train_set, batch_sampler=SeededBatchSampler(sampler, mini_batch, seed), num_workers=workers,
        collate_fn=fast_batch_collator, pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0)


def build_reid_test_loader(cfg, dataset_name: str, **dataset_kwargs: Any) -> Tuple[DataLoader, int]:
    """Finite loader over the query images followed by the gallery images of ``dataset_name``.

    Returns ``(loader, num_query)``. ``dataset_kwargs`` go to the dataset constructor (e.g.
    ``repeat=r`` for the seeded VehicleID gallery draw). Raises ``EmptyTestSetError`` when the query is
    empty or no query has a cross-camera gallery match.
    """
    ds = build_dataset(cfg, dataset_name, **dataset_kwargs)
    query, gallery = ds.query, ds.gallery
    if cfg.DATASETS.SKIP_CORRUPT:
        query = drop_unreadable(query, f"{dataset_name} query")
        gallery = drop_unreadable(gallery, f"{dataset_name} gallery")
    check_query_gallery(dataset_name, query, gallery)
    test_set = CommDataset(query + gallery, build_transforms(cfg, is_train=False), relabel=False)
    batch = _per_process(cfg.TEST.IMS_PER_BATCH, "TEST.IMS_PER_BATCH")
    loader = DataLoader(test_set, batch_sampler=BatchSampler(InferenceSampler(len(test_set)), batch, drop_last=False),
                        num_workers=num_workers(cfg), collate_fn=fast_batch_collator,
                        pin_memory=torch.cuda.is_available())
    return loader, len(query)
