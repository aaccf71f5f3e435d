"""OUTPUT_DIR is never clobbered: earlier runs need --resume / --overwrite, one process per folder."""

import os
import subprocess
import sys

import pytest

from fastreid.engine.run_dir import LOCK_FILE, RunDirError, claim_run_dir, keep_previous_config
from fastreid.utils.errors import UserError


def _finished_run(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_final.pth").write_bytes(b"weights")
    (folder / "last_checkpoint").write_text("model_final.pth")


def test_a_folder_holding_a_run_needs_resume_or_overwrite(tmp_path):
    run = tmp_path / "run"
    _finished_run(run)
    with pytest.raises(RunDirError, match=r"already holds a run \(last_checkpoint -> model_final.pth\); pass "
                                          r"--resume.*--overwrite") as e:
        claim_run_dir(str(run), lock=False)
    assert isinstance(e.value, UserError) and "\n" not in str(e.value)
    assert (run / "model_final.pth").read_bytes() == b"weights"
    claim_run_dir(str(run), resume=True, lock=False)
    claim_run_dir(str(run), overwrite=True, lock=False)
    claim_run_dir(str(tmp_path / "fresh"), lock=False)  # a new folder is fine


def test_a_second_live_process_is_stopped_by_the_lock_and_a_dead_ones_lock_is_taken_over(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import socket

        (run / LOCK_FILE).write_text(f"{holder.pid}\t{socket.gethostname()}\t2026-01-01 00:00:00\n")
        with pytest.raises(RunDirError, match=f"in use by process {holder.pid}"):
            claim_run_dir(str(run))
    finally:
        holder.kill()
        holder.wait()
    claim_run_dir(str(run))  # the holder is gone: its lock is stale
    assert (run / LOCK_FILE).read_text().split("\t")[0] == str(os.getpid())
    claim_run_dir(str(run), resume=True)  # the same process may claim it again


def test_stale_temp_files_of_killed_saves_are_removed(tmp_path):
    (tmp_path / "model_0003.pth.abc123.tmp").write_bytes(b"partial")
    (tmp_path / "notes.tmp").write_text("mine")
    claim_run_dir(str(tmp_path))
    assert not (tmp_path / "model_0003.pth.abc123.tmp").exists() and (tmp_path / "notes.tmp").exists()


def test_a_changed_config_on_resume_keeps_the_previous_one(tmp_path):
    (tmp_path / "config.yaml").write_text("A: 1\n")
    assert keep_previous_config(str(tmp_path), "A: 1\n") is None
    kept = keep_previous_config(str(tmp_path), "A: 2\n")
    assert kept.endswith("config.1.yaml") and (tmp_path / "config.1.yaml").read_text() == "A: 1\n"
    (tmp_path / "config.yaml").write_text("A: 2\n")
    assert keep_previous_config(str(tmp_path), "A: 3\n").endswith("config.2.yaml")


def test_drivers_claim_each_run_folder_as_a_training_command_does(tmp_path):
    """start_run: the run-folder rules of default_setup for experiment drivers and the demo."""
    from fastreid.config import get_cfg
    from fastreid.engine import start_run

    cfg = get_cfg()
    cfg.OUTPUT_DIR = str(tmp_path / "run")
    path = start_run(cfg)
    assert open(path).read() == cfg.dump() and (tmp_path / "run" / LOCK_FILE).is_file()
    _finished_run(tmp_path / "run")
    with pytest.raises(RunDirError, match="already holds a run"):
        start_run(cfg)
    cfg.SOLVER.BASE_LR = 0.5
    start_run(cfg, resume=True)
    assert "BASE_LR: 0.5" in (tmp_path / "run" / "config.yaml").read_text()
    assert "BASE_LR: 0.5" not in (tmp_path / "run" / "config.1.yaml").read_text()
    assert (tmp_path / "run" / "model_final.pth").read_bytes() == b"weights"


def test_resuming_does_not_count_the_class_count_the_run_filled_in_as_a_config_change(tmp_path):
    from fastreid.config import get_cfg
    from fastreid.engine import DefaultTrainer, start_run

    cfg = get_cfg()
    cfg.OUTPUT_DIR = str(tmp_path / "run")
    start_run(cfg)
    DefaultTrainer.auto_scale_hyperparams(cfg, 40)  # what training does with NUM_CLASSES 0
    assert "NUM_CLASSES: 40" in (tmp_path / "run" / "config.yaml").read_text()
    _finished_run(tmp_path / "run")
    start_run(cfg, resume=True)  # the same command again
    assert sorted(p.name for p in (tmp_path / "run").glob("config*.yaml")) == ["config.yaml"]
    assert "NUM_CLASSES: 40" in (tmp_path / "run" / "config.yaml").read_text()
    cfg.SOLVER.BASE_LR = 0.5  # a real change is still kept apart
    start_run(cfg, resume=True)
    assert "NUM_CLASSES: 40" in (tmp_path / "run" / "config.1.yaml").read_text()
    assert "BASE_LR: 0.5" in (tmp_path / "run" / "config.yaml").read_text()
