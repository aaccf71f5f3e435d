"""MSINet's config keys, added to the defaults tree by ``add_msinet_config(cfg)``."""

from fastreid.config import CfgNode as CN

__all__ = ["add_msinet_config"]


def add_msinet_config(cfg: CN) -> None:
    """Add MODEL.MSINET, MODEL.SAM and SEARCH keys to ``cfg`` (idempotent: safe to call twice)."""
    if "MSINET" in cfg.MODEL:
        return
    _C = cfg

    _C.MODEL.MSINET = CN()
    # Interaction ops of the 12 interaction modules (2 per cell, cells in order). One of: a named
    # genotype (msmt = the paper's Table 1, none / exchange / gate / attention = uniform ablations,
    # random = drawn with MODEL.MSINET.SEED), a list of 12 op names (none, exchange, gate, attention),
    # or the path of a genotype YAML written by the search. None (the default) means "msmt"; the
    # default is None so that a name and a list are both accepted by the config's type check.
    _C.MODEL.MSINET.GENOTYPE = None
    # Seed of the "random" genotype.
    _C.MODEL.MSINET.SEED = 0
    # How the two branches of a cell are merged: "sum" (the paper), "minus" or "mul" (Fig. 5 c).
    _C.MODEL.MSINET.FUSION = "sum"
    # LightConv3x3 depth of branch A and branch B per round; the paper's scale ratio 3:1 is [1, 3].
    _C.MODEL.MSINET.SCALE_RATIO = [1, 3]
    # Channels of the stem and of the three stages.
    _C.MODEL.MSINET.CHANNELS = [64, 256, 384, 512]
    # FBLNeck (MODEL.HEADS.NAME "FBLNeck"): channels of the part branch's 1x1 conv and number of
    # horizontal stripes pooled from the stage-2 map (the authors: 128 channels, 2 parts -> 256-d).
    _C.MODEL.MSINET.PART_CHANNELS = 128
    _C.MODEL.MSINET.NUM_PARTS = 2

    _C.MODEL.SAM = CN()
    # Alignment mode of the SpatialAlignLoss (add "SpatialAlignLoss" to MODEL.LOSSES.NAME to train
    # with it): "positives" (positives to the mutual self-activation), "negatives" (negative pairs to
    # each other), "unified" (all pairs to each other), "separated" (positives to the self-activation +
    # negatives to each other), "separated_pam" (the paper's SAM: positives to the PAM activation +
    # negatives to each other). Paper Table 5.
    _C.MODEL.SAM.MODE = "separated_pam"
    # Softmax over the PAM energy before taking its max (paper Table 11, "SAM-softmax").
    _C.MODEL.SAM.SOFTMAX = False
    # Weight of the spatial alignment loss (lambda_sa, paper Fig. 5 e).
    _C.MODEL.SAM.WEIGHT = 2.0
    # Channels of the PAM query / key projections (the authors: final channels / 8 = 64).
    _C.MODEL.SAM.PAM_CHANNELS = 64

    _C.SEARCH = CN()
    # Run the architecture search (projects/MSINet/train_net.py then uses the SearchTrainer).
    _C.SEARCH.ENABLED = False
