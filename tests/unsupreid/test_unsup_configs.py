"""Every YAML of projects/UnsupReID loads, passes the checks a run makes before any work (the supervised
source-model YAMLs: a supervised recipe) and says what it is in its first line; every Table 4 row the
project names has its YAML."""

from pathlib import Path

import pytest

from fastreid.config import get_cfg
from unsupreid import check_unsup_cfg, trainer_class

PROJECT = Path(__file__).resolve().parents[2] / "projects" / "UnsupReID"
YAMLS = sorted((PROJECT / "configs").rglob("*.yml"))


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: str(p.relative_to(PROJECT / "configs")))
def test_config_merges_passes_the_checks_and_says_what_it_is(path):
    assert path.read_text().startswith("# ")
    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(path))
    if path.stem.startswith("source_"):  # a supervised source model, trained by tools/train_net.py
        assert "ClusterNCELoss" not in cfg.MODEL.LOSSES.NAME and tuple(cfg.DATASETS.TESTS)
        return
    if path.stem == "Base-IDM":  # a base: its users name the source
        cfg.UNSUP.SOURCE.NAMES = ("DukeMTMC",)
    check_unsup_cfg(cfg)
    assert trainer_class(cfg).__name__ == ("IDMTrainer" if cfg.UNSUP.IDM.ENABLED else "ClusterTrainer")
    if path.parent.name in ("Market1501", "Market1501-MSMT17"):  # the paper's rows: its input size
        assert list(cfg.INPUT.SIZE_TRAIN) == [256, 128] and tuple(cfg.DATASETS.TESTS)


def test_every_table4_row_named_in_the_readmes_has_its_yaml():
    index = (PROJECT.parents[1] / "projects" / "MSINet" / "README.md").read_text()
    rows = [line for line in index.splitlines() if "Table 4" in line and "projects/UnsupReID/configs/" in line]
    assert len(rows) == 4
    for line in rows:
        rel = line.split("`projects/UnsupReID/")[1].split("`")[0]
        assert (PROJECT / rel).is_file(), rel
    own = (PROJECT / "README.md").read_text().split("## The paper's Table 4")[1].split("\n## ")[0]
    named = [line.split("`configs/")[1].split("`")[0] for line in own.splitlines() if "`configs/" in line]
    assert len(named) == 4 and all((PROJECT / "configs" / rel).is_file() for rel in named), named
