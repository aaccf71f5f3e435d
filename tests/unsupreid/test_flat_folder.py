"""projects/UnsupReID trains on an unlabelled flat folder (CustomReID, images directly in DIR) with no test
set (batches from the GroupSampler): the clustering round runs, no quality against labels is reported
(there are none), clustering.json is written; the supervised train_net refuses the folder with one line."""

import json
import shutil
from pathlib import Path

import pytest
import unsup_testlib

REPO, SCRIPT = unsup_testlib.REPO, unsup_testlib.SCRIPT
TINY = [*unsup_testlib.TINY, "SOLVER.MAX_EPOCH", "1", "SOLVER.ITERS_PER_EPOCH", "2"]


@pytest.fixture(scope="module")
def flat_dir(tmp_path_factory):
    """The synthetic generator's Market-style training images, copied flat into one folder."""
    root = tmp_path_factory.mktemp("gen")
    market = unsup_testlib.tiny_market(root)
    flat = tmp_path_factory.mktemp("flat")
    for f in sorted(Path(market, "bounding_box_train").glob("*.jpg")):
        shutil.copy(f, flat / f.name)
    return flat


def _run(script, args, ok=True, config=unsup_testlib.CONFIG):
    return unsup_testlib.run(args, ok=ok, script=script, config=config)


def _data(flat):
    return ["DATASETS.NAMES", '("CustomReID",)', "DATASETS.TESTS", "()", "DATASETS.CUSTOM.DIR", str(flat)]


@pytest.mark.slow
def test_unsupervised_training_on_a_flat_folder_without_test_set(flat_dir, tmp_path):
    out_dir = tmp_path / "run"
    gs = ["DATALOADER.SAMPLER_TRAIN", "GroupSampler", "DATALOADER.GROUP_SIZE", "4"]  # the GS sampler, too
    log = _run(SCRIPT, [*TINY, *_data(flat_dir), *gs, "OUTPUT_DIR", str(out_dir)])
    assert "Clustering round at epoch 0 (" in log
    assert "NMI" not in log and "against the hidden labels" not in log
    rounds = json.loads((out_dir / "clustering.json").read_text())
    assert [r["epoch"] for r in rounds] == [0] and rounds[0]["images"] == 32
    assert "nmi" not in rounds[0] and rounds[0]["clusters"] >= 1
    assert (out_dir / "model_final.pth").is_file()


def test_supervised_training_refuses_the_flat_folder_with_one_line(flat_dir, tmp_path):
    err = _run(REPO / "tools" / "train_net.py", ["--opts", "MODEL.DEVICE", "cpu", *_data(flat_dir),
                                                 "OUTPUT_DIR", str(tmp_path / "sup")], ok=False, config=None)
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err[-2000:]
    assert "no identity label" in lines[0] and "projects/UnsupReID trains without them" in lines[0]
    assert "Traceback" not in err
