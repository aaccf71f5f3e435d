"""Every YAML of the repo (configs/**, projects/MSINet/configs/**) loads and builds its model.

Each config is merged into get_cfg(plugins=True) (unknown keys fail), then built at a tiny input on the CPU with
NUM_CLASSES set by hand (no dataset needed) and PRETRAIN off (ImageNet files are not in the repo), and
run once in eval mode.
"""

from pathlib import Path

import pytest
import torch

from fastreid.config import get_cfg
from fastreid.modeling.meta_arch.build import build_model

REPO = Path(__file__).resolve().parents[2]
YAMLS = sorted(p for d in ("configs", "projects/MSINet/configs") for p in (REPO / d).rglob("*.y*ml"))
MSINET_YAMLS = [p for p in YAMLS if "projects" in p.parts and "Search" not in p.parts]


def _load(path):
    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(path))
    return cfg


def _build_and_run(cfg):
    cfg.defrost()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.BACKBONE.PRETRAIN = False
    if cfg.MODEL.HEADS.NUM_CLASSES == 0:
        cfg.MODEL.HEADS.NUM_CLASSES = 4
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    h, w = cfg.INPUT.SIZE_TEST
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, max(32, 64 * w // h)) * 255)
    return model, out


def test_the_repo_has_a_yaml_for_each_paper_experiment_group():
    groups = {p.parent.name for p in MSINET_YAMLS}
    assert {"Table2", "Table3", "Table5", "Figure5", "Table11"} <= groups
    assert len(MSINET_YAMLS) >= 55


@pytest.mark.parametrize("path", YAMLS, ids=[str(p.relative_to(REPO)) for p in YAMLS])
def test_yaml_loads_and_its_model_builds_at_tiny_input(path):
    model, out = _build_and_run(_load(path))
    assert isinstance(out, torch.Tensor) and out.shape[0] == 2 and torch.isfinite(out).all()


@pytest.mark.parametrize("path", MSINET_YAMLS, ids=[str(p.relative_to(REPO)) for p in MSINET_YAMLS])
def test_msinet_yaml_first_line_names_its_row(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and len(first) > 20


def test_authors_recipe_values_in_the_base_config():
    cfg = _load(REPO / "projects/MSINet/configs/Base-MSINet.yml")
    s = cfg.SOLVER
    assert (s.OPT, s.BASE_LR, s.MOMENTUM, s.WEIGHT_DECAY, s.MAX_EPOCH, s.WARMUP_EPOCHS, list(s.STEPS),
            s.IMS_PER_BATCH) == ("SGD", 0.065, 0.9, 5e-4, 350, 10, [150, 225, 300], 64)
    assert cfg.DATALOADER.NUM_INSTANCE == 4 and list(cfg.INPUT.SIZE_TRAIN) == [256, 128]
    assert cfg.MODEL.LOSSES.CE.EPSILON == 0.1 and cfg.MODEL.LOSSES.TRI.MARGIN == 0.3
    assert cfg.INPUT.REA.ENABLED and cfg.INPUT.FLIP.ENABLED and cfg.INPUT.PADDING.SIZE == 10


def test_cross_domain_and_sam_variants_differ_where_the_paper_says():
    cd = _load(REPO / "projects/MSINet/configs/Table2/veri_to_vehicleid_sam.yml")
    assert cd.SOLVER.MAX_EPOCH == 250 and not cd.INPUT.REA.ENABLED and cd.INPUT.CJ.ENABLED
    assert cd.INPUT.CJ.BRIGHTNESS == 0.4 and list(cd.INPUT.SIZE_TRAIN) == [256, 256]
    assert "SpatialAlignLoss" in cd.MODEL.LOSSES.NAME and cd.MODEL.SAM.WEIGHT == 2.0
    soft = _load(REPO / "projects/MSINet/configs/Table11/market1501_sam_softmax.yml")
    assert soft.MODEL.SAM.SOFTMAX and soft.MODEL.SAM.MODE == "separated_pam"


def test_vehicleid_yamls_test_as_the_authors_code_does():
    vid = [p for p in YAMLS if "projects" in p.parts and "vehicleid" in p.name.lower()]
    assert len(vid) >= 10
    for path in vid:
        cfg = _load(path)
        assert tuple(cfg.DATASETS.TESTS) == ("LargeVehicleID",) and cfg.TEST.REPEATS == 1, path.name
        assert cfg.DATASETS.VEHICLEID.GALLERY_DRAW == "python", path.name  # their loader's draw


# the PKU benchmark recipes keep the toolbox's preprocessing, shared with every backbone they are compared to
TOOLBOX_PREPROCESSING = {"PKUReIDSubset/msinet_20min.yml", "Search/pku_subset.yml"}


@pytest.mark.parametrize("path", [p for p in YAMLS if "projects" in p.parts],
                         ids=[str(p.relative_to(REPO)) for p in YAMLS if "projects" in p.parts])
def test_msinet_yamls_preprocess_as_the_authors_or_say_why_not(path):
    cfg = _load(path)
    authors = (cfg.INPUT.INTERPOLATION, cfg.INPUT.REA.RATIO_SAMPLING, cfg.INPUT.REA.ATTEMPTS,
               list(cfg.INPUT.REA.VALUE)) == ("bilinear", "uniform", 100, [152.370, 143.823, 129.148])
    name = str(path.relative_to(REPO / "projects/MSINet/configs"))
    if name in TOOLBOX_PREPROCESSING:
        header = " ".join(line for line in path.read_text().splitlines() if line.startswith("#"))
        assert not authors and "Preprocessing: the toolbox's" in header and "on purpose" in header, name
    else:
        assert authors, name


def test_the_authors_search_yaml_runs_the_authors_loop():
    cfg = _load(REPO / "projects/MSINet/configs/Search/msmt17_authors_zero_memory.yml")
    assert (cfg.SEARCH.PROTOCOL, list(cfg.SEARCH.ARCH_STEPS), cfg.SEARCH.MEMORY_INIT) == \
        ("authors", [150, 225, 350], "zero")
    assert _load(REPO / "projects/MSINet/configs/Search/msmt17.yml").SEARCH.PROTOCOL == "paper"


@pytest.mark.parametrize("path", [p for p in YAMLS if "projects" not in p.parts][:2] or [None])
def test_msinet_backbone_plugs_into_the_toolbox_configs(path):
    if path is None:
        pytest.fail("no toolbox config under configs/")
    cfg = _load(path)
    cfg.merge_from_list(["MODEL.BACKBONE.NAME", "msinet"])
    _, out = _build_and_run(cfg)
    assert out.shape[0] == 2


def test_a_genotype_list_on_the_command_line_replaces_a_yaml_name_and_back():
    from fastreid.config import get_cfg

    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(Path(__file__).resolve().parents[2] / "projects/MSINet/configs/Base-MSINet.yml"))
    assert cfg.MODEL.MSINET.GENOTYPE == "msmt"
    ops = ["gate"] * 6 + ["none"] * 6
    cfg.merge_from_list(["MODEL.MSINET.GENOTYPE", str(ops), "SOLVER.BASE_LR", "0.1"])
    assert list(cfg.MODEL.MSINET.GENOTYPE) == ops and cfg.SOLVER.BASE_LR == 0.1
    cfg.merge_from_list(["MODEL.MSINET.GENOTYPE", "none"])
    assert cfg.MODEL.MSINET.GENOTYPE == "none"
