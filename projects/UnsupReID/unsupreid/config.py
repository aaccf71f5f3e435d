"""Config keys of clustering-based unsupervised ReID (``UNSUP.*``), added by ``add_unsupreid_config``."""

from __future__ import annotations

from fastreid.config import CfgNode as CN
from fastreid.data.build import check_train_sampler_cfg
from fastreid.utils.errors import ConfigValueError

__all__ = ["add_unsupreid_config", "check_unsup_cfg"]


def add_unsupreid_config(cfg) -> None:
    """Add the UNSUP node (Cluster Contrast's defaults, ``../shared/reference/unsupervised-facts.md``)."""
    if "UNSUP" in cfg:
        return
    cfg.UNSUP = CN()
    cfg.UNSUP.CLUSTER = CN()
    cfg.UNSUP.CLUSTER.EPS = 0.6  # DBSCAN radius on the k-reciprocal Jaccard distance, in (0, 1)
    cfg.UNSUP.CLUSTER.MIN_SAMPLES = 4  # DBSCAN: images within EPS that make a core point (itself included)
    cfg.UNSUP.CLUSTER.K1 = 30  # k-reciprocal neighbours
    cfg.UNSUP.CLUSTER.K2 = 6  # local query expansion
    cfg.UNSUP.CLUSTER.PERIOD = 1  # epochs between clustering rounds (a round starts every PERIOD-th epoch)
    cfg.UNSUP.CLUSTER.USE_FAISS = True
    cfg.UNSUP.CLUSTER.IMS_PER_BATCH = 64  # images per forward pass when extracting features for a round
    cfg.UNSUP.MEMORY = CN()
    cfg.UNSUP.MEMORY.TEMP = 0.05  # ClusterNCE temperature
    cfg.UNSUP.MEMORY.MOMENTUM = 0.1  # the weight a slot keeps in an update (Cluster Contrast's README: 0.1)


def check_unsup_cfg(cfg) -> None:
    """Every UNSUP value and the keys the method depends on, checked before any work."""
    c = cfg.UNSUP.CLUSTER
    if not 0.0 < float(c.EPS) < 1.0:
        raise ConfigValueError(f"UNSUP.CLUSTER.EPS: {c.EPS}; expected a radius in (0, 1) on the Jaccard distance "
                               "(0.6 is the usual choice)")
    for key in ("MIN_SAMPLES", "K1", "K2", "PERIOD", "IMS_PER_BATCH"):
        value = getattr(c, key)
        if not isinstance(value, int) or value < 1:
            raise ConfigValueError(f"UNSUP.CLUSTER.{key}: {value!r}; expected an integer >= 1")
    m = cfg.UNSUP.MEMORY
    if float(m.TEMP) <= 0:
        raise ConfigValueError(f"UNSUP.MEMORY.TEMP: {m.TEMP}; expected a temperature > 0 (0.05 is the usual one)")
    if not 0.0 <= float(m.MOMENTUM) < 1.0:
        raise ConfigValueError(f"UNSUP.MEMORY.MOMENTUM: {m.MOMENTUM}; expected a value in [0, 1)")
    losses = set(cfg.MODEL.LOSSES.NAME)
    if "ClusterNCELoss" not in losses:
        raise ConfigValueError(f"MODEL.LOSSES.NAME: {tuple(cfg.MODEL.LOSSES.NAME)}; unsupervised training needs "
                               "'ClusterNCELoss' (the cluster memory's loss)")
    if "CrossEntropyLoss" in losses:
        raise ConfigValueError("MODEL.LOSSES.NAME: 'CrossEntropyLoss' trains a classifier of fixed classes, which "
                               "pseudo-labels that change every round do not have; expected 'ClusterNCELoss' "
                               "(optionally with 'TripletLoss')")
    check_train_sampler_cfg(cfg)  # the sampler is first built at the first round, after its features
    if cfg.SOLVER.ITERS_PER_EPOCH < 1:
        raise ConfigValueError(f"SOLVER.ITERS_PER_EPOCH: {cfg.SOLVER.ITERS_PER_EPOCH}; unsupervised training needs a "
                               "fixed epoch length (the number of clustered images changes every round), "
                               "e.g. 400 as Cluster Contrast")
