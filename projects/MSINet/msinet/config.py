"""MSINet's config keys, added to the defaults tree by ``add_msinet_config(cfg)``."""

from fastreid.config import CfgNode as CN
from fastreid.config import allow_any_type

__all__ = ["add_msinet_config"]


def add_msinet_config(cfg: CN) -> None:
    """Add MODEL.MSINET, MODEL.SAM and SEARCH keys to ``cfg`` (idempotent: safe to call twice)."""
    if "MSINET" in cfg.MODEL:
        return
    _C = cfg

    _C.MODEL.MSINET = CN()
    # Interaction ops of the 12 interaction modules (2 per cell, cells in order). One of: a named
    # genotype (msmt = the paper's Table 1, none / exchange / gate / attention = uniform ablations,
    # random = drawn with MODEL.MSINET.SEED), a list of 12 op names (none, gate, attention, exchange),
    # or the path of a genotype YAML written by the search. None (the default) means "msmt"; the
    # default is None so that a name and a list are both accepted by the config's type check.
    _C.MODEL.MSINET.GENOTYPE = None
    allow_any_type("MODEL.MSINET.GENOTYPE")  # a name or path in a YAML, a list on the command line, or back
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
    # The backbone output the part branch reads: "stage2" (MSINet, OSNet) or "layer3" (ResNet).
    _C.MODEL.MSINET.PART_FEATURE = "stage2"

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
    # How the search loop runs where the paper and the authors' code differ: "paper" (a weight step on
    # the training loss only; alpha's Adam follows the SOLVER schedule; identity boundaries
    # ceil(ratio x P); epochs of len(train) // batch iterations, each restarting the validation stream)
    # or "authors" (as the authors' searcher runs: the weights' step uses the validation loss's gradient
    # plus the training loss's, alpha's Adam decays 10x at the epochs of SEARCH.ARCH_STEPS without
    # warm-up, no architecture step at the first iteration of an epoch; the weights' warm-up steps once
    # per epoch (unless SOLVER.WARMUP_STEPPING says otherwise); an epoch is one pass of the identity sampler unless
    # SOLVER.ITERS_PER_EPOCH > 0 fixes it; one validation stream for the whole run; the identity split
    # rounds on P // 5 with floor halves and keeps train labels, empty slots included). See
    # projects/MSINet/README.md, "Differences from the authors' code".
    _C.SEARCH.PROTOCOL = "paper"
    # Epochs at which alpha's learning rate decays 10x under PROTOCOL "authors" (their MultiStepLR).
    _C.SEARCH.ARCH_STEPS = [150, 225, 350]
    # Search scheme (paper Fig. 5 a, supplement Sec. 9): "tcm" (Twins Contrastive Mechanism: one
    # contrastive memory per split) or "softmax" (MSINet-S: one linear classifier + cross entropy on
    # both splits; needs identical identities, i.e. TRAIN_RATIO = VALID_RATIO = 1.0).
    _C.SEARCH.SCHEME = "tcm"
    # Identity split (supplement Table 9): train takes the first TRAIN_RATIO of the identities, valid
    # the last VALID_RATIO; identities in both have their images halved between them.
    _C.SEARCH.TRAIN_RATIO = 0.6
    _C.SEARCH.VALID_RATIO = 0.8
    # Branch width of the supernet's cells: "in" = C_in / 4 (the authors' supernet, 1,687,590
    # weights at 256x128) or "out" = C_out / 4 (as the searched MSINet).
    _C.SEARCH.MID_RULE = "in"
    # alpha (12 x 4) starts as ALPHA_INIT_STD * N(0, 1).
    _C.SEARCH.ALPHA_INIT_STD = 1e-3
    # Twin memories: slot start ("centroid" = class centroids of the current model, the paper;
    # "zero" = the authors' code), re-initialisation period in epochs (0 = only at the start),
    # contrastive temperature (Eq. 2) and momentum beta kept by the old slot (Eq. 3).
    _C.SEARCH.MEMORY_INIT = "centroid"
    _C.SEARCH.MEMORY_REFRESH = 0
    _C.SEARCH.TEMPERATURE = 0.05
    _C.SEARCH.MEMORY_MOMENTUM = 0.2
    # Architecture optimizer (Adam) for alpha; its schedule follows SOLVER (same warm-up and steps).
    _C.SEARCH.ARCH_LR = 0.002
    _C.SEARCH.ARCH_BETAS = [0.5, 0.999]
    _C.SEARCH.ARCH_WEIGHT_DECAY = 1e-3
    # First iteration with an architecture step (the authors skip the very first one).
    _C.SEARCH.ARCH_START_ITER = 1
    # Log the genotype and softmax(alpha) every this many epochs (and at the end).
    _C.SEARCH.GENOTYPE_PERIOD = 5
