"""The single defaults tree. Every key the toolbox reads lives here, each with a comment.

Units: epochs for MAX_EPOCH, STEPS, EVAL_PERIOD, CHECKPOINT_PERIOD, WARMUP_EPOCHS, DELAY_EPOCHS;
iterations for WARMUP_ITERS and FREEZE_ITERS. Image sizes are (height, width) in pixels.
Projects add their own keys with ``add_xxx_config(cfg)`` (see ``msinet.config``).
"""


from .config import CfgNode as CN

_C = CN()

# Seed for python, numpy and torch RNGs and for the samplers. A negative value draws a fresh seed
# at start (it is logged); any value >= 0 makes CPU runs repeat exactly.
_C.SEED = -1
# Where checkpoints, logs, metrics.json and config.yaml go.
_C.OUTPUT_DIR = "logs/"
# torch.backends.cudnn.benchmark during training (ignored on CPU).
_C.CUDNN_BENCHMARK = False

# ---------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------
_C.MODEL = CN()
# "auto" (a GPU when one is visible, else the CPU; resolved when the model is built, so the saved
# config.yaml is the same on every machine), or any torch device string ("cpu", "cuda", "cuda:1").
_C.MODEL.DEVICE = "auto"
# Registered meta-architecture (META_ARCH registry).
_C.MODEL.META_ARCHITECTURE = "Baseline"
# Train (and evaluate) with the weights in channels_last memory format: on the CPU a training step is
# 1.26-1.64x faster this way for MSINet, OSNet and both ResNet-50s (tools/benchmark_model.py measures
# it), with the same losses and gradients up to float32 rounding (tests/modeling/test_channels_last.py);
# hence the default. False keeps PyTorch's default format (not measured on a GPU here: compare there).
# Inference uses channels_last on the CPU whatever this says.
_C.MODEL.CHANNELS_LAST = True
# Checkpoint to load before training or for --eval-only ("" = none).
_C.MODEL.WEIGHTS = ""
# Per-channel mean / std on the 0..255 scale; the model normalises raw RGB input with them.
_C.MODEL.PIXEL_MEAN = [123.675, 116.28, 103.53]
_C.MODEL.PIXEL_STD = [58.395, 57.12, 57.375]
# Top-level module names (e.g. "backbone") frozen for the first SOLVER.FREEZE_ITERS iterations.
_C.MODEL.FREEZE_LAYERS = []

_C.MODEL.BACKBONE = CN()
# Registered backbone name (BACKBONE registry): resnet50, osnet, msinet, msinet_supernet, ...
_C.MODEL.BACKBONE.NAME = "resnet50"
# Normalisation layer inside the backbone: "BN" or "syncBN".
_C.MODEL.BACKBONE.NORM = "BN"
# Stride of the last stage (1 doubles the final map's resolution; ResNet-50 only).
_C.MODEL.BACKBONE.LAST_STRIDE = 1
# Load ImageNet weights: PRETRAIN_PATH (a local file or a URL, downloaded once into torch.hub's cache and
# hash-checked), or when it is empty the backbone's published weights (ResNet-50: torchvision's).
_C.MODEL.BACKBONE.PRETRAIN = False
# Local path of the ImageNet checkpoint used when PRETRAIN is True.
_C.MODEL.BACKBONE.PRETRAIN_PATH = ""
# Start every residual block as its shortcut: the last norm of each residual branch gets weight 0
# (from scratch only). Off in the paper recipes; see projects/MSINet/README.md for where it helps.
_C.MODEL.BACKBONE.ZERO_INIT_RESIDUAL = False

_C.MODEL.HEADS = CN()
# Registered head (HEADS registry): EmbeddingHead, or a project head such as MSINet's FBLNeck.
_C.MODEL.HEADS.NAME = "EmbeddingHead"
# Number of training identities; 0 = taken from the training set.
_C.MODEL.HEADS.NUM_CLASSES = 0
# Output size of an optional 1x1 reduction conv before the neck (0 = no reduction).
_C.MODEL.HEADS.EMBEDDING_DIM = 0
# Add a BatchNorm neck with a frozen bias (BNNeck) after pooling.
_C.MODEL.HEADS.WITH_BNNECK = True
# Feature fed to metric losses and returned at test time: "before" or "after" the BNNeck.
_C.MODEL.HEADS.NECK_FEAT = "before"
# Global pooling: "avg", "max" or "gem".
_C.MODEL.HEADS.POOL_LAYER = "avg"
# Classifier: "linear", "cosface", "arcface" or "circle".
_C.MODEL.HEADS.CLS_LAYER = "linear"
# Logit scale and margin of the cosine-margin classifiers.
_C.MODEL.HEADS.SCALE = 1.0
_C.MODEL.HEADS.MARGIN = 0.0

_C.MODEL.LOSSES = CN()
# Registered losses (LOSS registry) summed into the training objective; unknown names are rejected.
_C.MODEL.LOSSES.NAME = ("CrossEntropyLoss",)
_C.MODEL.LOSSES.CE = CN()
# Label-smoothing epsilon (0 = plain cross entropy).
_C.MODEL.LOSSES.CE.EPSILON = 0.0
# Weight of the cross-entropy term.
_C.MODEL.LOSSES.CE.SCALE = 1.0
_C.MODEL.LOSSES.TRI = CN()
# Triplet margin; 0 selects the soft-margin (softplus) form.
_C.MODEL.LOSSES.TRI.MARGIN = 0.3
# L2-normalise features before computing distances.
_C.MODEL.LOSSES.TRI.NORM_FEAT = False
# Batch-hard mining (hardest positive / negative); False = softmax-weighted mining.
_C.MODEL.LOSSES.TRI.HARD_MINING = True
# Distance used by the triplet loss: "euclidean" or "cosine".
_C.MODEL.LOSSES.TRI.METRIC = "euclidean"
# Weight of the triplet term.
_C.MODEL.LOSSES.TRI.SCALE = 1.0

# ---------------------------------------------------------------------------------------------------
# Input pipeline (pixels stay on the 0..255 scale; the model normalises)
# ---------------------------------------------------------------------------------------------------
_C.INPUT = CN()
# Training / test resize target (height, width).
_C.INPUT.SIZE_TRAIN = [256, 128]
_C.INPUT.SIZE_TEST = [256, 128]
# Resize interpolation of train and test images: "bicubic" (fast-reid) or "bilinear" (torchvision's
# default, used by the MSINet authors).
_C.INPUT.INTERPOLATION = "bicubic"
_C.INPUT.FLIP = CN()
# Random horizontal flip and its probability.
_C.INPUT.FLIP.ENABLED = False
_C.INPUT.FLIP.PROB = 0.5
_C.INPUT.PADDING = CN()
# Pad then random-crop back to SIZE_TRAIN.
_C.INPUT.PADDING.ENABLED = False
# Padding mode for torchvision Pad: constant, edge, reflect, symmetric.
_C.INPUT.PADDING.MODE = "constant"
# Pixels of padding on each side.
_C.INPUT.PADDING.SIZE = 10
_C.INPUT.CJ = CN()
# Colour jitter, applied with probability PROB.
_C.INPUT.CJ.ENABLED = False
_C.INPUT.CJ.PROB = 0.5
_C.INPUT.CJ.BRIGHTNESS = 0.15
_C.INPUT.CJ.CONTRAST = 0.15
_C.INPUT.CJ.SATURATION = 0.1
_C.INPUT.CJ.HUE = 0.1
_C.INPUT.REA = CN()
# Random erasing with probability PROB, erased area up to MAX_AREA of the image, filled with VALUE
# (0..255 scale; default the ImageNet pixel mean).
_C.INPUT.REA.ENABLED = False
_C.INPUT.REA.PROB = 0.5
_C.INPUT.REA.MAX_AREA = 0.4
_C.INPUT.REA.VALUE = [123.675, 116.28, 103.53]
# Aspect ratio of the erased rectangle in [0.3, 3.3]: "log" (log-uniform, torchvision, 10 attempts) or
# "uniform" (the original random erasing and the MSINet authors' code, ATTEMPTS attempts).
_C.INPUT.REA.RATIO_SAMPLING = "log"
_C.INPUT.REA.ATTEMPTS = 100
_C.INPUT.AUTOAUG = CN()
# torchvision AutoAugment (ImageNet policy), applied with probability PROB.
_C.INPUT.AUTOAUG.ENABLED = False
_C.INPUT.AUTOAUG.PROB = 0.1

# ---------------------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------------------
_C.DATASETS = CN()
# Registered training datasets (DATASET registry); several are combined with prefixed labels.
_C.DATASETS.NAMES = ("Market1501",)
# Registered test datasets, evaluated in turn.
_C.DATASETS.TESTS = ("Market1501",)
# Root folder of all datasets; "" = $FASTREID_DATASETS, else "datasets".
_C.DATASETS.ROOT = ""
# Add query + gallery identities of the training datasets to the training set.
_C.DATASETS.COMBINEALL = False
# Skip unreadable images with a warning instead of stopping.
_C.DATASETS.SKIP_CORRUPT = False
_C.DATASETS.CUSTOM = CN()
# CustomReID: folder of the user's dataset (absolute, or relative to DATASETS.ROOT); holds
# <pid>/<image>, {train,query,gallery}/<pid>/<image>, or the images of a list file.
_C.DATASETS.CUSTOM.DIR = ""
# CustomReID: CSV/TSV list of "path,pid,camid[,split]" rows relative to DIR ("" = folder layout).
_C.DATASETS.CUSTOM.LIST = ""
# CustomReID (folder layout): regex whose first group is the camera in a file name ("" = unknown cameras).
_C.DATASETS.CUSTOM.CAMERA_REGEX = r"c(\d+)"
# CustomReID (no split given): fraction of identities held out for query/gallery.
_C.DATASETS.CUSTOM.TEST_RATIO = 0.5
# CustomReID (no split given): query images per test identity (the rest form the gallery).
_C.DATASETS.CUSTOM.QUERY_PER_ID = 1
# CustomReID (no split given): seed of the identity split and the query draw.
_C.DATASETS.CUSTOM.SPLIT_SEED = 0
_C.DATASETS.VEHICLEID = CN()
# VehicleID's gallery draw (one image per vehicle of the test list): "numpy" (numpy's generator seeded
# with (SPLIT_SEED, repeat)) or "python" (Python's random.Random(SPLIT_SEED + repeat).choice per vehicle in
# list order: the MSINet authors' loader, whose --seed SPLIT_SEED then is).
_C.DATASETS.VEHICLEID.GALLERY_DRAW = "numpy"
# VehicleID: seed of the gallery draw.
_C.DATASETS.VEHICLEID.SPLIT_SEED = 0

# ---------------------------------------------------------------------------------------------------
# Data loader
# ---------------------------------------------------------------------------------------------------
_C.DATALOADER = CN()
# Training sampler: TrainingSampler, NaiveIdentitySampler, BalancedIdentitySampler or GroupSampler.
_C.DATALOADER.SAMPLER_TRAIN = "NaiveIdentitySampler"
# Images per identity (K) in identity samplers; P = IMS_PER_BATCH // K.
_C.DATALOADER.NUM_INSTANCE = 4
# GroupSampler (Group Sampling): the most images of one cluster kept together in one contiguous chunk
# (N; the GS paper: 256 on Market-1501, 128 on DukeMTMC, 1024 on MSMT17).
_C.DATALOADER.GROUP_SIZE = 256
# Worker processes per loader (0 = load in the main process).
_C.DATALOADER.NUM_WORKERS = 4

# ---------------------------------------------------------------------------------------------------
# Solver
# ---------------------------------------------------------------------------------------------------
_C.SOLVER = CN()
_C.SOLVER.AMP = CN()
# Mixed precision with a grad scaler (CUDA only; falls back to fp32 with a warning on CPU).
_C.SOLVER.AMP.ENABLED = False
# Optimizer: SGD, Adam or AdamW.
_C.SOLVER.OPT = "Adam"
# Number of training epochs.
_C.SOLVER.MAX_EPOCH = 120
# Iterations per epoch; 0 = len(training set) // IMS_PER_BATCH.
_C.SOLVER.ITERS_PER_EPOCH = 0
# Base learning rate (for the global batch IMS_PER_BATCH).
_C.SOLVER.BASE_LR = 3.5e-4
# SGD momentum and Nesterov switch; Adam(W) use MOMENTUM as beta1.
_C.SOLVER.MOMENTUM = 0.9
_C.SOLVER.NESTEROV = False
# Weight decay of ordinary weights, of normalisation layers, and of biases.
_C.SOLVER.WEIGHT_DECAY = 5e-4
_C.SOLVER.WEIGHT_DECAY_NORM = 5e-4
_C.SOLVER.WEIGHT_DECAY_BIAS = 5e-4
# Learning-rate multiplier for biases and for parameters under the "heads" module.
_C.SOLVER.BIAS_LR_FACTOR = 1.0
_C.SOLVER.HEADS_LR_FACTOR = 1.0
# Main schedule after warm-up: MultiStepLR or CosineAnnealingLR (counted in epochs).
_C.SOLVER.SCHED = "MultiStepLR"
# MultiStepLR milestones (epochs) and decay factor.
_C.SOLVER.STEPS = [30, 55]
_C.SOLVER.GAMMA = 0.1
# Epochs at constant LR before the cosine schedule starts.
_C.SOLVER.DELAY_EPOCHS = 0
# Final LR of the cosine schedule.
_C.SOLVER.ETA_MIN_LR = 1e-7
# Warm-up: LR factor at the first iteration (rises to 1), its length in iterations or epochs (the
# larger wins; 0 and 0 = no warm-up), and its shape: "linear" or "constant".
_C.SOLVER.WARMUP_FACTOR = 0.1
_C.SOLVER.WARMUP_ITERS = 0
_C.SOLVER.WARMUP_EPOCHS = 0
_C.SOLVER.WARMUP_METHOD = "linear"
# When the warm-up factor changes: "iteration" (rises at every iteration) or "epoch" (one value per
# epoch, changed at each epoch's start: the MSINet authors' per-epoch scheduler, WARMUP_EPOCHS steps
# from WARMUP_FACTOR; WARMUP_ITERS must then be 0). "" = the trainer's choice: "iteration", except
# where a trainer's protocol says otherwise (MSINet's SEARCH.PROTOCOL authors: "epoch").
_C.SOLVER.WARMUP_STEPPING = ""
# Iterations during which MODEL.FREEZE_LAYERS get no updates (and keep BN statistics).
_C.SOLVER.FREEZE_ITERS = 0
# Save a checkpoint every this many epochs (the last epoch is always saved).
_C.SOLVER.CHECKPOINT_PERIOD = 20
# Keep only this many of the newest periodic checkpoints (model_<epoch>.pth), deleting older ones as new
# ones are written; model_final.pth and model_best.pth are never deleted. 0 = keep all.
_C.SOLVER.CHECKPOINT_MAX_KEEP = 0
# Global batch size over all processes.
_C.SOLVER.IMS_PER_BATCH = 64
_C.SOLVER.CLIP_GRADIENTS = CN()
# Clip gradients by "norm" or "value" at CLIP_VALUE (NORM_TYPE for the norm).
_C.SOLVER.CLIP_GRADIENTS.ENABLED = False
_C.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "norm"
_C.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 5.0
_C.SOLVER.CLIP_GRADIENTS.NORM_TYPE = 2.0
# Write a console / metrics.json line every this many iterations (and at every epoch end).
_C.SOLVER.LOG_PERIOD = 20

# ---------------------------------------------------------------------------------------------------
# Test
# ---------------------------------------------------------------------------------------------------
_C.TEST = CN()
# Evaluate every this many epochs; 0 = only at the end of training.
_C.TEST.EVAL_PERIOD = 20
# Test batch size over all processes.
_C.TEST.IMS_PER_BATCH = 128
# Distance between features: "cosine" (features L2-normalised) or "euclidean".
_C.TEST.METRIC = "cosine"
_C.TEST.FLIP = CN()
# Average the features of each image and its horizontal flip.
_C.TEST.FLIP.ENABLED = False
_C.TEST.AQE = CN()
# Alpha query expansion: rounds, neighbours and weighting exponent.
_C.TEST.AQE.ENABLED = False
_C.TEST.AQE.QE_TIME = 1
_C.TEST.AQE.QE_K = 5
_C.TEST.AQE.ALPHA = 3.0
_C.TEST.RERANK = CN()
# k-reciprocal re-ranking (Zhong et al. 2017) with its k1, k2 and lambda.
_C.TEST.RERANK.ENABLED = False
_C.TEST.RERANK.K1 = 20
_C.TEST.RERANK.K2 = 6
_C.TEST.RERANK.LAMBDA = 0.3
_C.TEST.ROC = CN()
# Also report TPR at FPR 1e-4 / 1e-3 / 1e-2 over all query-gallery pairs.
_C.TEST.ROC.ENABLED = False
_C.TEST.PRECISE_BN = CN()
# Recompute BN statistics over NUM_ITER training batches of DATASET before the final evaluation.
_C.TEST.PRECISE_BN.ENABLED = False
_C.TEST.PRECISE_BN.DATASET = "Market1501"
_C.TEST.PRECISE_BN.NUM_ITER = 300
# Repeats of randomly-sampled test protocols (VehicleID gallery draw); results are averaged.
_C.TEST.REPEATS = 1
