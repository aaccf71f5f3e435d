"""End to end: a two-epoch search on the generated dataset, then MSINet trained on the searched genotype."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TRAIN_NET = REPO / "projects" / "MSINet" / "train_net.py"
SMALL = ["MODEL.MSINET.CHANNELS", "[16, 64, 96, 128]", "INPUT.SIZE_TRAIN", "[32, 16]", "INPUT.SIZE_TEST", "[32, 16]",
         "DATALOADER.NUM_WORKERS", "0", "MODEL.DEVICE", "cpu", "SEED", "1", "TEST.IMS_PER_BATCH", "128"]


def _run(args, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(TRAIN_NET), *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_two_epoch_search_then_training_of_the_searched_genotype(tmp_path):
    root, search_dir, train_dir = tmp_path / "datasets", tmp_path / "search", tmp_path / "train"
    _run(["--config-file", str(REPO / "projects/MSINet/configs/Search/synthetic_demo.yml"),
          "OUTPUT_DIR", str(search_dir), "DATASETS.ROOT", str(root), "SOLVER.ITERS_PER_EPOCH", "3",
          "SOLVER.IMS_PER_BATCH", "16", "SOLVER.MAX_EPOCH", "2", "SOLVER.STEPS", "[1]", *SMALL], tmp_path)
    genotype_file = search_dir / "genotype.yaml"
    genotype = yaml.safe_load(genotype_file.read_text())["MODEL"]["MSINET"]["GENOTYPE"]
    assert len(genotype) == 12
    assert json.loads((search_dir / "alphas.json").read_text())["epochs"] == [0, 1, 2]
    assert (search_dir / "alphas.png").is_file() and (search_dir / "model_final.pth").is_file()

    log = _run(["--config-file", str(REPO / "projects/MSINet/configs/Base-MSINet.yml"),
                "MODEL.MSINET.GENOTYPE", str(genotype_file), "OUTPUT_DIR", str(train_dir),
                "DATASETS.ROOT", str(root), "DATASETS.NAMES", "('SyntheticReID',)",
                "DATASETS.TESTS", "('SyntheticReID',)", "SOLVER.MAX_EPOCH", "1", "SOLVER.ITERS_PER_EPOCH", "2",
                "SOLVER.IMS_PER_BATCH", "16", "SOLVER.WARMUP_EPOCHS", "0", *SMALL], tmp_path)
    assert "MSINet genotype: " + ", ".join(genotype) in log
    metrics = [json.loads(line) for line in (train_dir / "metrics.json").read_text().splitlines() if line.strip()]
    evaluated = [m for m in metrics if any(k.endswith("mAP") for k in m)]
    assert evaluated, "training did not evaluate"
    assert 0.0 <= next(v for k, v in evaluated[-1].items() if k.endswith("mAP")) <= 100.0
