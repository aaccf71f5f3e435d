"""Config keys of clustering-based unsupervised ReID (``UNSUP.*``), added by ``add_unsupreid_config``;
``UNSUP.IDM`` / ``UNSUP.SOURCE`` select IDM's domain adaptation (``unsupreid.IDMTrainer``)."""

from __future__ import annotations

from fastreid.config import CfgNode as CN
from fastreid.data.build import check_train_sampler_cfg
from fastreid.utils.errors import ConfigValueError

__all__ = ["add_unsupreid_config", "check_unsup_cfg", "check_idm_cfg"]


def add_unsupreid_config(cfg) -> None:
    """Add the UNSUP node (Cluster Contrast's defaults, ``../shared/reference/unsupervised-facts.md``)."""
    if "UNSUP" in cfg:
        return
    cfg.UNSUP = CN()
    cfg.UNSUP.CLUSTER = CN()
    cfg.UNSUP.CLUSTER.EPS = 0.6  # DBSCAN radius on the k-reciprocal Jaccard distance, in (0, 1)
    # radii to choose EPS from at every round: the one that finds the most clusters (a tie goes to the larger).
    # Label-free; for data whose distances a fixed 0.6 does not suit (a weak start model, a small set).
    # Empty: EPS, as in Cluster Contrast. An addition of this project
    cfg.UNSUP.CLUSTER.EPS_GRID = ()
    cfg.UNSUP.CLUSTER.MIN_SAMPLES = 4  # DBSCAN: images within EPS that make a core point (itself included)
    cfg.UNSUP.CLUSTER.K1 = 30  # k-reciprocal neighbours
    cfg.UNSUP.CLUSTER.K2 = 6  # local query expansion
    cfg.UNSUP.CLUSTER.PERIOD = 1  # epochs between clustering rounds (a round starts every PERIOD-th epoch)
    cfg.UNSUP.CLUSTER.USE_FAISS = True
    # cluster each image's feature minus its camera's mean feature (re-normalised): what a camera adds to
    # every image it takes (background, colour cast) no longer pulls its images into one cluster.
    # Off in Cluster Contrast; an addition of this project
    cfg.UNSUP.CLUSTER.CAMERA_NORM = False
    cfg.UNSUP.CLUSTER.IMS_PER_BATCH = 64  # images per forward pass when extracting features for a round
    cfg.UNSUP.MEMORY = CN()
    cfg.UNSUP.MEMORY.TEMP = 0.05  # ClusterNCE temperature
    cfg.UNSUP.MEMORY.MOMENTUM = 0.1  # the weight a slot keeps in an update (Cluster Contrast's README: 0.1)
    # IDM (Dai et al., ICCV 2021): a labelled source trained jointly with the unlabelled target DATASETS.NAMES;
    # SOLVER.IMS_PER_BATCH is split in two equal halves, source then target (IDM's -b 64: 128 here).
    # Its losses replace MODEL.LOSSES.NAME's ("CrossEntropyLoss", "TripletLoss"), reading CE.EPSILON and TRI.*.
    cfg.UNSUP.SOURCE = CN()
    cfg.UNSUP.SOURCE.NAMES = ()  # labelled source data set(s); read only with UNSUP.IDM.ENABLED
    cfg.UNSUP.IDM = CN()
    cfg.UNSUP.IDM.ENABLED = False
    cfg.UNSUP.IDM.STAGE = 0  # where the IDM mixes: 0 = after the stem, k = after stage k (unsupreid.idm.IDM_POINTS)
    cfg.UNSUP.IDM.MU1 = 0.7  # L_bridge_prob's weight; L_ce's is 1 - MU1
    cfg.UNSUP.IDM.MU2 = 0.1  # L_bridge_feat's weight
    cfg.UNSUP.IDM.MU3 = 1.0  # L_div's weight


def check_unsup_cfg(cfg) -> None:
    """Every UNSUP value and the keys the method depends on, checked before any work."""
    c = cfg.UNSUP.CLUSTER
    if not 0.0 < float(c.EPS) < 1.0:
        raise ConfigValueError(f"UNSUP.CLUSTER.EPS: {c.EPS}; expected a radius in (0, 1) on the Jaccard distance "
                               "(0.6 is the usual choice)")
    grid = c.EPS_GRID
    if not isinstance(grid, (list, tuple)) or not all(
            isinstance(e, (int, float)) and not isinstance(e, bool) and 0.0 < float(e) < 1.0 for e in grid):
        raise ConfigValueError(f"UNSUP.CLUSTER.EPS_GRID: {grid!r}; expected a list of radii in (0, 1), e.g. "
                               "(0.3, 0.4, 0.5, 0.6), or () to use UNSUP.CLUSTER.EPS")
    for key in ("MIN_SAMPLES", "K1", "K2", "PERIOD", "IMS_PER_BATCH"):
        value = getattr(c, key)
        if not isinstance(value, int) or value < 1:
            raise ConfigValueError(f"UNSUP.CLUSTER.{key}: {value!r}; expected an integer >= 1")
    if cfg.UNSUP.IDM.ENABLED:
        check_idm_cfg(cfg)
    else:
        if tuple(cfg.UNSUP.SOURCE.NAMES):
            raise ConfigValueError(f"UNSUP.SOURCE.NAMES: {tuple(cfg.UNSUP.SOURCE.NAMES)}; a labelled source is read "
                                   "only by IDM; expected UNSUP.IDM.ENABLED True, or () for unsupervised training")
        _check_cluster_nce(cfg)
    check_train_sampler_cfg(cfg)  # the sampler is first built at the first round, after its features
    if cfg.SOLVER.ITERS_PER_EPOCH < 1:
        raise ConfigValueError(f"SOLVER.ITERS_PER_EPOCH: {cfg.SOLVER.ITERS_PER_EPOCH}; unsupervised training needs a "
                               "fixed epoch length (the number of clustered images changes every round), "
                               "e.g. 400 as Cluster Contrast")


def _check_cluster_nce(cfg) -> None:
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


def check_idm_cfg(cfg) -> None:
    """The keys IDM reads or depends on (UNSUP.IDM.ENABLED True); part of :func:`check_unsup_cfg`."""
    from fastreid.data.datasets import DATASET_REGISTRY
    from fastreid.utils import comm

    from .idm import idm_point

    names = tuple(cfg.UNSUP.SOURCE.NAMES)
    if not names:
        raise ConfigValueError("UNSUP.SOURCE.NAMES: (); IDM adapts from a labelled source; expected e.g. "
                               "(\"Market1501\",)")
    for name in names:
        DATASET_REGISTRY.get(name)  # an unknown name stops here, with the registered names
        if name in tuple(cfg.DATASETS.NAMES):
            raise ConfigValueError(f"UNSUP.SOURCE.NAMES: '{name}' is also the target (DATASETS.NAMES); expected a "
                                   "source other than the target")
    idm = cfg.UNSUP.IDM
    idm_point(cfg.MODEL.BACKBONE.NAME, idm.STAGE)
    if not 0.0 <= float(idm.MU1) <= 1.0:
        raise ConfigValueError(f"UNSUP.IDM.MU1: {idm.MU1}; expected a weight in [0, 1] (L_ce gets 1 - MU1)")
    for key in ("MU2", "MU3"):
        if float(getattr(idm, key)) < 0:
            raise ConfigValueError(f"UNSUP.IDM.{key}: {getattr(idm, key)}; expected a weight >= 0")
    batch, world = int(cfg.SOLVER.IMS_PER_BATCH), comm.get_world_size()
    if batch % (2 * world) or batch // (2 * world) < 2:
        raise ConfigValueError(f"SOLVER.IMS_PER_BATCH: {batch}; IDM splits it into a source and a target half per "
                               f"process ({world}); expected a multiple of {2 * world} with >= 2 images per half")
    if cfg.MODEL.META_ARCHITECTURE != "Baseline":
        raise ConfigValueError(f"MODEL.META_ARCHITECTURE: '{cfg.MODEL.META_ARCHITECTURE}'; IDM wraps 'Baseline'")
    h = cfg.MODEL.HEADS
    if h.NAME != "EmbeddingHead" or not h.WITH_BNNECK or str(h.CLS_LAYER).lower() != "linear":
        raise ConfigValueError(f"MODEL.HEADS: {h.NAME} (WITH_BNNECK {h.WITH_BNNECK}, CLS_LAYER {h.CLS_LAYER}); IDM's "
                               "head is a BN neck and a bias-free linear classifier; expected EmbeddingHead, "
                               "WITH_BNNECK True, CLS_LAYER linear")
    if h.NECK_FEAT != "after":
        raise ConfigValueError(f"MODEL.HEADS.NECK_FEAT: '{h.NECK_FEAT}'; IDM evaluates and clusters the BN neck's "
                               "output, whose class means start the classifier's rows; expected 'after'")
    if cfg.MODEL.BACKBONE.NORM != "BN":
        raise ConfigValueError(f"MODEL.BACKBONE.NORM: '{cfg.MODEL.BACKBONE.NORM}'; IDM's domain-specific BNs "
                               "replace plain BatchNorm; expected 'BN'")
    if cfg.TEST.PRECISE_BN.ENABLED:
        raise ConfigValueError("TEST.PRECISE_BN.ENABLED: True; its plain batches do not hold IDM's [source; target] "
                               "halves; expected False")
    losses = set(cfg.MODEL.LOSSES.NAME)
    if losses != {"CrossEntropyLoss", "TripletLoss"}:
        raise ConfigValueError(f"MODEL.LOSSES.NAME: {tuple(cfg.MODEL.LOSSES.NAME)}; IDM's loss is its smoothed "
                               "cross entropy and batch-hard triplet with the bridge and diversity terms; expected "
                               "(\"CrossEntropyLoss\", \"TripletLoss\")")
    if not 0.0 <= float(cfg.MODEL.LOSSES.CE.EPSILON) < 1.0:
        raise ConfigValueError(f"MODEL.LOSSES.CE.EPSILON: {cfg.MODEL.LOSSES.CE.EPSILON}; expected a value in [0, 1) "
                               "(IDM: 0.1)")
    if float(cfg.MODEL.LOSSES.TRI.MARGIN) < 0:
        raise ConfigValueError(f"MODEL.LOSSES.TRI.MARGIN: {cfg.MODEL.LOSSES.TRI.MARGIN}; expected >= 0 (IDM: 0.3)")
