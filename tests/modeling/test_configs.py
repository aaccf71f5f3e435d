"""Every YAML under configs/ loads into the defaults, states what it reproduces, and builds a model."""

from pathlib import Path

import pytest

from fastreid.config import get_cfg
from fastreid.modeling import build_model

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ALL_YAMLS = sorted(CONFIGS.rglob("*.yml"))
DATASETS = ("Market1501", "DukeMTMC", "MSMT17", "VeRi", "VehicleID")


def _load(path):
    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(path))
    return cfg


def test_the_expected_config_files_exist():
    names = {str(p.relative_to(CONFIGS)) for p in ALL_YAMLS}
    for ds in DATASETS:
        assert {f"{ds}/bagtricks_R50.yml", f"{ds}/osnet.yml"} <= names
    for ds in ("Market1501", "MSMT17", "VeRi", "VehicleID"):  # the datasets of MSINet Table 2
        assert {f"{ds}/scratch_R50.yml", f"{ds}/scratch_osnet.yml"} <= names


@pytest.mark.parametrize("path", ALL_YAMLS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_merges_and_first_line_says_what_it_reproduces(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and len(first) > 30
    cfg = _load(path)
    if path.parent != CONFIGS:
        assert cfg.OUTPUT_DIR.endswith(path.stem) and tuple(cfg.DATASETS.NAMES)
    if path.parent.name in DATASETS:  # the paper datasets use the paper's input sizes
        vehicle = path.parent.name in ("VeRi", "VehicleID")
        assert list(cfg.INPUT.SIZE_TRAIN) == ([256, 256] if vehicle else [256, 128])
        assert list(cfg.INPUT.SIZE_TEST) == list(cfg.INPUT.SIZE_TRAIN)


def test_vehicleid_tests_small_medium_large():
    cfg = _load(CONFIGS / "VehicleID" / "bagtricks_R50.yml")
    assert tuple(cfg.DATASETS.TESTS) == ("SmallVehicleID", "MediumVehicleID", "LargeVehicleID")


@pytest.mark.parametrize("name", ["scratch_R50", "scratch_osnet"])
def test_scratch_configs_follow_the_msinet_recipe(name):
    cfg = _load(CONFIGS / "MSMT17" / f"{name}.yml")
    s = cfg.SOLVER
    assert (s.OPT, s.BASE_LR, s.MOMENTUM, s.WEIGHT_DECAY, s.MAX_EPOCH) == ("SGD", 0.065, 0.9, 5e-4, 350)
    assert (list(s.STEPS), s.WARMUP_EPOCHS, s.WARMUP_FACTOR, s.IMS_PER_BATCH) == ([150, 225, 300], 10, 0.01, 64)
    assert cfg.DATALOADER.NUM_INSTANCE == 4 and cfg.MODEL.BACKBONE.PRETRAIN is False
    assert (cfg.MODEL.LOSSES.CE.EPSILON, cfg.MODEL.LOSSES.TRI.MARGIN) == (0.1, 0.3)
    assert cfg.INPUT.FLIP.ENABLED and cfg.INPUT.PADDING.ENABLED and cfg.INPUT.REA.ENABLED


def test_scratch_osnet_model_has_the_papers_size_without_classifier():
    cfg = _load(CONFIGS / "Market1501" / "scratch_osnet.yml")
    cfg.MODEL.DEVICE, cfg.MODEL.HEADS.NUM_CLASSES = "cpu", 751
    model = build_model(cfg)
    n = sum(p.numel() for name, p in model.named_parameters() if ".classifier." not in f".{name}")
    assert abs(n - 2_170_000) <= 5_000  # "about 2.17 M" (torchreid OSNet x1.0 without classifier)
    with_cls = sum(p.numel() for p in model.parameters())
    assert abs(with_cls - 2_550_000) <= 10_000  # "about 2.55 M" with a 751-class classifier
