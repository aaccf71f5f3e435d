"""End to end: tools/train_net.py trains ResNet-50 and OSNet for 2 tiny epochs, then --eval-only reloads.

The fixture is a Market-1501 tree (8 training identities, 4 test identities, 2 cameras, 64 x 32 images)
written into tmp_path by the synthetic generator, read through the real Market1501 parser. The
configs are the MSINet Table 2 from-scratch ones, shrunk on the command line.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastreid.data.synthetic import SyntheticSpec, generate_synthetic_reid

REPO = Path(__file__).resolve().parents[2]
METRICS = ("Rank-1", "Rank-5", "Rank-10", "mAP", "mINP", "metric")
TINY = [
    "MODEL.DEVICE", "cpu", "INPUT.SIZE_TRAIN", "[64, 32]", "INPUT.SIZE_TEST", "[64, 32]",
    "SOLVER.IMS_PER_BATCH", "8", "DATALOADER.NUM_INSTANCE", "2", "DATALOADER.NUM_WORKERS", "0",
    "SOLVER.MAX_EPOCH", "2", "SOLVER.ITERS_PER_EPOCH", "2", "SOLVER.STEPS", "[1]", "SOLVER.WARMUP_EPOCHS", "0",
    "SOLVER.BASE_LR", "0.01", "SOLVER.CHECKPOINT_PERIOD", "1", "TEST.EVAL_PERIOD", "0",
    "TEST.IMS_PER_BATCH", "16", "SEED", "0",
]


@pytest.fixture(scope="module")
def market_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    spec = SyntheticSpec(num_train_ids=8, num_test_ids=4, num_cameras=2, images_per_camera=2, height=64, width=32,
                         num_distractors=2, num_junk=1, seed=0)
    generate_synthetic_reid(str(root / "Market-1501-v15.09.15"), spec)
    return root


def _run(args, script=REPO / "tools" / "train_net.py", returncode=0):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    proc = subprocess.run([sys.executable, str(script), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert (proc.returncode == 0) == (returncode == 0), out[-4000:]
    return out if returncode == 0 else proc.stderr


def _table_metrics(text):
    """Metrics of the last results table printed (header row '| Dataset | Rank-1 | ...')."""
    lines = [ln.strip() for ln in text.splitlines()]
    header_at = max(i for i, ln in enumerate(lines) if ln.startswith("| Dataset"))
    header = [c.strip() for c in lines[header_at].strip("|").split("|")]
    row = [c.strip() for c in lines[header_at + 2].strip("|").split("|")]
    return {k: float(v) for k, v in zip(header, row) if k in METRICS}


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["R50", "osnet"])
def test_train_then_eval_only_through_train_net(market_root, tmp_path, backbone):
    config = str(REPO / "configs" / "Market1501" / f"scratch_{backbone}.yml")
    out_dir = tmp_path / "train"
    _run(["--config-file", config, *TINY, "DATASETS.ROOT", str(market_root), "OUTPUT_DIR", str(out_dir)])

    assert (out_dir / "model_final.pth").is_file()
    records = [json.loads(ln) for ln in (out_dir / "metrics.json").read_text().splitlines() if ln.strip()]
    assert any("loss_cls" in r and "loss_triplet" in r for r in records)
    final = [r for r in records if "mAP" in r][-1]
    for key in METRICS:
        assert 0.0 <= final[key] <= 100.0
    assert final["metric"] == pytest.approx((final["mAP"] + final["Rank-1"]) / 2, abs=1e-6)

    train_config = (out_dir / "config.yaml").read_text()
    final_bytes = (out_dir / "model_final.pth").read_bytes()
    # a second training run into the finished run's folder stops in one line and changes nothing
    err = _run(["--config-file", config, *TINY, "DATASETS.ROOT", str(market_root), "OUTPUT_DIR", str(out_dir)],
               returncode=1)
    assert err.strip().splitlines()[-1].startswith("error: OUTPUT_DIR") and "--resume" in err
    assert "Traceback" not in err
    assert (out_dir / "model_final.pth").read_bytes() == final_bytes

    # evaluation into the training folder writes into its eval/ subfolder
    eval_out = _run(["--config-file", config, "--eval-only", "MODEL.WEIGHTS", str(out_dir / "model_final.pth"),
                     "MODEL.DEVICE", "cpu", "INPUT.SIZE_TEST", "[64, 32]", "DATALOADER.NUM_WORKERS", "0",
                     "TEST.IMS_PER_BATCH", "16", "DATASETS.ROOT", str(market_root),
                     "OUTPUT_DIR", str(out_dir)])
    assert (out_dir / "config.yaml").read_text() == train_config
    assert (out_dir / "eval" / "config.yaml").is_file()
    reloaded = _table_metrics(eval_out)
    # model_final holds the weights evaluated at the end of training: the reloaded model scores the same
    for key in ("Rank-1", "mAP", "mINP"):
        assert reloaded[key] == pytest.approx(final[key], abs=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("script", ["tools/train_net.py", "projects/MSINet/train_net.py"])
def test_msinet_trains_inside_a_toolbox_config_through_either_entry_point(market_root, tmp_path, script):
    """MODEL.BACKBONE.NAME msinet in configs/Market1501/bagtricks_R50.yml: the toolbox's own train_net finds
    the backbone through the fastreid.plugins entry point, the project's through its import."""
    out_dir = tmp_path / "train"
    out = _run(["--config-file", str(REPO / "configs" / "Market1501" / "bagtricks_R50.yml"), *TINY,
                "MODEL.BACKBONE.NAME", "msinet", "MODEL.BACKBONE.PRETRAIN", "False",
                "DATASETS.ROOT", str(market_root), "OUTPUT_DIR", str(out_dir)], script=REPO / script)
    assert "MSINet genotype" in out
    assert (out_dir / "model_final.pth").is_file()
    assert "mAP" in [json.loads(ln) for ln in (out_dir / "metrics.json").read_text().splitlines() if ln.strip()][-1]
