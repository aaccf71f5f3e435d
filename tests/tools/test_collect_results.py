"""tools/collect_results.py: run folders -> markdown table with the paper's Table 2 numbers."""

import json
import logging
import os
import subprocess
import sys

import pytest
from tools_testlib import REPO, load_tool

from fastreid.config import get_cfg

tool = load_tool("collect_results")


def make_run(folder, backbone="msinet", train=("Market1501",), test=("Market1501",), pretrain=False,
             losses=("CrossEntropyLoss", "TripletLoss"), evals=({"Rank-1": 50.0, "mAP": 40.0},)):
    """A run folder as the trainer leaves it: config.yaml (a yacs dump) and metrics.json lines."""
    cfg = get_cfg(plugins=True)
    cfg.MODEL.BACKBONE.NAME = backbone
    cfg.MODEL.BACKBONE.PRETRAIN = pretrain
    cfg.MODEL.LOSSES.NAME = tuple(losses)
    cfg.DATASETS.NAMES, cfg.DATASETS.TESTS = tuple(train), tuple(test)
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(cfg.dump())
    with open(folder / "metrics.json", "w") as f:
        for i, metrics in enumerate(evals):
            f.write(json.dumps({"iteration": 10 * i, "epoch": i, "loss_cls": 1.0}) + "\n")
            f.write(json.dumps({"iteration": 10 * i + 9, "epoch": i, **metrics}) + "\n")
    return folder


def _rows(tmp_path, *dirs):
    out = tmp_path / "rows.json"
    assert tool.main([*map(str, dirs), "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_last_evaluation_is_reported_next_to_the_paper_row(tmp_path, capsys):
    make_run(tmp_path / "logs" / "msinet_m", evals=({"Rank-1": 10.0, "mAP": 5.0}, {"Rank-1": 61.25, "mAP": 42.5}))
    (row,) = _rows(tmp_path, tmp_path / "logs")
    assert (row["model"], row["init"], row["task"]) == ("MSINet", "scratch", "M")
    assert (row["Rank-1"], row["mAP"]) == (61.25, 42.5)
    assert (row["paper_rank1"], row["paper_map"]) == (94.6, 87.0)  # Table 2, MSINet from scratch, Market-1501
    table = capsys.readouterr().out
    assert "| run | model | init | train -> test | Rank-1 | mAP | paper Rank-1 | paper mAP |" in table
    assert "| MSINet | scratch | Market1501 -> Market1501 | 61.2 | 42.5 | 94.6 | 87.0 |" in table


@pytest.mark.parametrize("kwargs, label, paper", [
    (dict(backbone="msinet", train=("MSMT17",), test=("Market1501",), pretrain=True,
          losses=("CrossEntropyLoss", "TripletLoss", "SpatialAlignLoss")), "MSINet-SAM", (76.3, 48.4, None)),
    (dict(backbone="osnet", train=("VeRi",), test=("VeRi",)), "OSNet", (95.4, 72.8, None)),
    (dict(backbone="resnet50", train=("VehicleID",), test=("SmallVehicleID",), pretrain=True), "ResNet50",
     (76.5, None, 89.9)),
    (dict(backbone="osnet", train=("PKUReIDSubset",), test=("PKUReIDSubset",)), "OSNet", (None, None, None)),
])
def test_rows_map_to_the_right_paper_cells(tmp_path, kwargs, label, paper):
    (row,) = _rows(tmp_path, make_run(tmp_path / "run", **kwargs))
    assert row["model"] == label
    assert (row["paper_rank1"], row["paper_map"], row["paper_rank5"]) == paper


def test_vehicleid_rows_add_rank5_columns(tmp_path, capsys):
    make_run(tmp_path / "a", backbone="osnet", train=("VehicleID",), test=("VehicleID",),
             evals=({"Rank-1": 70.0, "Rank-5": 80.0, "mAP": 60.0},))
    tool.main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "| Rank-5 |" in out and "| 70.0 | 60.0 | 80.0 | 76.0 | - | 88.7 |" in out


def test_eval_only_runs_are_read_from_the_printed_table(tmp_path):
    from fastreid.evaluation import print_csv_format

    run = make_run(tmp_path / "eval", backbone="osnet", evals=())
    os.remove(run / "metrics.json")
    handler = logging.FileHandler(run / "log.txt")
    handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s]: %(message)s"))
    log = logging.getLogger("fastreid.evaluation")
    log.addHandler(handler)
    old_level = log.level
    log.setLevel(logging.INFO)
    try:
        print_csv_format({"Market1501": {"Rank-1": 1.0, "mAP": 2.0}})
        print_csv_format({"Market1501": {"Rank-1": 93.5, "Rank-5": 97.0, "mAP": 80.25, "mINP": 50.0}})
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)
        handler.close()
    (row,) = _rows(tmp_path, run)
    assert (row["Rank-1"], row["mAP"], row["paper_rank1"]) == (93.5, 80.25, 93.6)


def test_missing_folder_and_empty_folder_are_one_line_errors(tmp_path):
    with pytest.raises(SystemExit, match="run folder not found: .*nowhere"):
        tool.main([str(tmp_path / "nowhere")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no run folder"):
        tool.main([str(tmp_path / "empty")])


@pytest.mark.slow
def test_reads_a_real_training_run(tmp_path):
    from fastreid.data.synthetic import SyntheticSpec, generate_synthetic_reid

    spec = SyntheticSpec(num_train_ids=4, num_test_ids=3, num_cameras=2, images_per_camera=2, height=64, width=32,
                         num_distractors=0, num_junk=0, seed=0)
    generate_synthetic_reid(str(tmp_path / "data" / "Market-1501-v15.09.15"), spec)
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "train_net.py"), "--config-file",
         str(REPO / "configs" / "Market1501" / "scratch_osnet.yml"), "MODEL.DEVICE", "cpu",
         "INPUT.SIZE_TRAIN", "[64, 32]", "INPUT.SIZE_TEST", "[64, 32]", "SOLVER.IMS_PER_BATCH", "8",
         "DATALOADER.NUM_INSTANCE", "2", "DATALOADER.NUM_WORKERS", "0", "SOLVER.MAX_EPOCH", "1",
         "SOLVER.ITERS_PER_EPOCH", "1", "SOLVER.WARMUP_EPOCHS", "0", "TEST.EVAL_PERIOD", "0",
         "TEST.IMS_PER_BATCH", "16", "SEED", "0", "DATASETS.ROOT", str(tmp_path / "data"), "OUTPUT_DIR", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    final = [json.loads(ln) for ln in (out / "metrics.json").read_text().splitlines() if "mAP" in ln][-1]
    (row,) = _rows(tmp_path, out)
    assert (row["model"], row["init"], row["task"]) == ("OSNet", "scratch", "M")
    assert (row["Rank-1"], row["mAP"]) == (final["Rank-1"], final["mAP"])
    assert (row["paper_rank1"], row["paper_map"]) == (93.6, 81.0)
