"""projects/UnsupReID trains on an unlabelled flat folder (CustomReID, images directly in DIR) with no test
set (batches from the GroupSampler): the clustering round runs, no quality against labels is reported
(there are none), clustering.json is written; the supervised train_net refuses the folder with one line."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fastreid.data.synthetic import SyntheticSpec, generate_synthetic_reid

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "projects" / "UnsupReID" / "train_net.py"
CONFIG = REPO / "projects" / "UnsupReID" / "configs" / "Base-cluster-contrast.yml"
TINY = [
    "MODEL.DEVICE", "cpu", "MODEL.BACKBONE.NAME", "osnet", "MODEL.BACKBONE.PRETRAIN", "False",
    "MODEL.HEADS.POOL_LAYER", "avg", "INPUT.SIZE_TRAIN", "[64, 32]", "INPUT.SIZE_TEST", "[64, 32]",
    "SOLVER.IMS_PER_BATCH", "8", "DATALOADER.NUM_INSTANCE", "2", "DATALOADER.NUM_WORKERS", "0",
    "SOLVER.MAX_EPOCH", "1", "SOLVER.ITERS_PER_EPOCH", "2", "SOLVER.STEPS", "[2]",
    "SOLVER.CHECKPOINT_PERIOD", "1",
    "TEST.EVAL_PERIOD", "0", "TEST.IMS_PER_BATCH", "16", "SEED", "0",
    "UNSUP.CLUSTER.K1", "6", "UNSUP.CLUSTER.K2", "2", "UNSUP.CLUSTER.MIN_SAMPLES", "2",
    "UNSUP.CLUSTER.EPS", "0.7",
]


@pytest.fixture(scope="module")
def flat_dir(tmp_path_factory):
    """The synthetic generator's Market-style training images, copied flat into one folder."""
    root = tmp_path_factory.mktemp("gen")
    spec = SyntheticSpec(num_train_ids=8, num_test_ids=4, num_cameras=2, images_per_camera=2, height=64,
                         width=32, num_distractors=2, num_junk=1, seed=0)
    market = generate_synthetic_reid(str(root / "Market-1501-v15.09.15"), spec)
    flat = tmp_path_factory.mktemp("flat")
    for f in sorted(Path(market, "bounding_box_train").glob("*.jpg")):
        shutil.copy(f, flat / f.name)
    return flat


def _run(script, args, ok=True, config=CONFIG):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    cmd = [sys.executable, str(script)] + (["--config-file", str(config)] if config else []) + list(args)
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert (proc.returncode == 0) == ok, out[-4000:]
    return out


def _data(flat):
    return ["DATASETS.NAMES", '("CustomReID",)', "DATASETS.TESTS", "()", "DATASETS.CUSTOM.DIR", str(flat)]


@pytest.mark.slow
def test_unsupervised_training_on_a_flat_folder_without_test_set(flat_dir, tmp_path):
    out_dir = tmp_path / "run"
    gs = ["DATALOADER.SAMPLER_TRAIN", "GroupSampler", "DATALOADER.GROUP_SIZE", "4"]  # the GS sampler, too
    log = _run(SCRIPT, [*TINY, *_data(flat_dir), *gs, "OUTPUT_DIR", str(out_dir)])
    assert "Clustering round at epoch 0:" in log
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
