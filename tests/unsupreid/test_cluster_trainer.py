"""Clustering-based unsupervised training (projects/UnsupReID) end to end on a tiny Market-1501 tree:
rounds run before the first step, the training labels never reach training (only the quality report),
the model checkpoint loads into a plain config, a resumed run continues on the saved pseudo-labels and
memory, and bad values stop before any work with one line."""

import json

import pytest
import unsup_testlib

from fastreid.utils.checkpoint import load_torch_file

TINY = [*unsup_testlib.TINY, "SOLVER.MAX_EPOCH", "3", "SOLVER.ITERS_PER_EPOCH", "2", "UNSUP.CLUSTER.PERIOD", "2"]
_run = unsup_testlib.run


@pytest.fixture(scope="module")
def market_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    unsup_testlib.tiny_market(root)
    return root


def _data(root):
    return ["DATASETS.ROOT", str(root), "DATASETS.NAMES", '("Market1501",)', "DATASETS.TESTS", '("Market1501",)']


@pytest.mark.slow
def test_trains_on_pseudo_labels_reports_quality_and_resumes(market_root, tmp_path):
    out_dir = tmp_path / "run"
    # EPS_GRID: each round takes the radius of the grid that finds the most clusters, and reports it
    args = [*TINY, *_data(market_root), "OUTPUT_DIR", str(out_dir), "UNSUP.CLUSTER.EPS_GRID", "(0.5, 0.7)"]
    log = _run([*args, "SOLVER.MAX_EPOCH", "2"])
    assert "Clustering round at epoch 0 (eps 0.5)" in log or "Clustering round at epoch 0 (eps 0.7)" in log
    assert "against the hidden labels: NMI" in log
    rounds = json.loads((out_dir / "clustering.json").read_text())
    assert [r["epoch"] for r in rounds] == [0] and rounds[0]["images"] == 32 and rounds[0]["eps"] in (0.5, 0.7)
    assert 0.0 <= rounds[0]["nmi"] <= 1.0 and rounds[0]["clusters"] >= 4
    assert (out_dir / "clustering.png").stat().st_size > 0
    metrics = [json.loads(line) for line in (out_dir / "metrics.json").read_text().splitlines()]
    assert any("cluster/clusters" in m for m in metrics)
    saved = load_torch_file(str(out_dir / "model_final.pth"))  # weights_only, numpy RNG state allowed
    assert not any("memory" in k for k in saved["model"]), "the memory is saved with the pseudo-labels, not the model"
    labels = saved["pseudo_labels"]["labels"]
    assert labels.shape == (32,) and int(labels.max()) + 1 == rounds[0]["clusters"]
    # resume at epoch 2, a round (PERIOD 2): clustering runs again and the history continues
    log = _run(["--resume", *args])
    assert "Resuming at epoch 2" in log and "Clustering round at epoch 2 (" in log
    assert [r["epoch"] for r in json.loads((out_dir / "clustering.json").read_text())] == [0, 2]


def test_bad_values_stop_before_any_work_with_one_line(market_root, tmp_path):
    for key, value, expected in (("UNSUP.CLUSTER.EPS", "1.5", "UNSUP.CLUSTER.EPS: 1.5"),
                                 ("UNSUP.CLUSTER.MIN_SAMPLES", "0", "UNSUP.CLUSTER.MIN_SAMPLES: 0"),
                                 ("UNSUP.CLUSTER.EPS_GRID", "(0.3, 1.2)", "UNSUP.CLUSTER.EPS_GRID: (0.3, 1.2)"),
                                 ("SOLVER.ITERS_PER_EPOCH", "0", "SOLVER.ITERS_PER_EPOCH"),
                                 ("UNSUP.CLUSTER.MIN_SAMPLES", "40", "fewer than UNSUP.CLUSTER.MIN_SAMPLES 40")):
        err = _run([*TINY, *_data(market_root), "OUTPUT_DIR", str(tmp_path / key / value), key, value], ok=False)
        lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and expected in lines[0], err[-2000:]
        assert "Traceback" not in err


@pytest.mark.slow
def test_a_run_resumed_between_rounds_trains_on_the_saved_labels_and_evaluates(market_root, tmp_path):
    out_dir = tmp_path / "run"
    args = [*TINY, *_data(market_root), "OUTPUT_DIR", str(out_dir)]
    _run([*args, "SOLVER.MAX_EPOCH", "1"])  # one round (epoch 0), then stopped
    saved = load_torch_file(str(out_dir / "model_final.pth"))["pseudo_labels"]
    log = _run(["--resume", *args])  # epoch 1 is not a round (PERIOD 2): the saved labels and memory
    assert "Resuming at epoch 1" in log and "Clustering round at epoch 1" not in log
    assert "Epoch 1: training on the saved pseudo-labels of the last round" in log
    assert "Clustering round at epoch 2 (" in log
    # the checkpoint of epoch 1 holds the round of epoch 0: its labels and its (since updated) memory
    resumed = load_torch_file(str(out_dir / "model_0001.pth"))["pseudo_labels"]
    assert resumed["labels"].tolist() == saved["labels"].tolist()
    assert resumed["slots"].shape == saved["slots"].shape and not resumed["slots"].equal(saved["slots"])
    # the trained weights evaluate through --eval-only (no memory is needed for inference)
    log = _run(["--eval-only", *TINY, *_data(market_root), "OUTPUT_DIR", str(out_dir),
                "MODEL.WEIGHTS", str(out_dir / "model_final.pth")])
    assert "mAP" in log and "Traceback" not in log
