"""Inputs that used to be accepted silently now fail in one line or warn (issue: trust)."""

import argparse
import logging

import pytest
from engine_parts import TinyTrainer, tiny_cfg

from fastreid.engine import train_or_evaluate
from fastreid.utils.errors import ConfigValueError, UserError


def test_eval_only_without_weights_is_refused(tmp_path):
    cfg = tiny_cfg(tmp_path)
    with pytest.raises(ConfigValueError, match="--eval-only evaluates MODEL.WEIGHTS, which is empty"):
        train_or_evaluate(cfg, argparse.Namespace(eval_only=True, resume=False), TinyTrainer)


def test_eval_only_of_a_checkpoint_without_a_class_count_is_refused_in_one_line(tmp_path):
    """It used to build a one-class classifier (max(1, 0)) and fail later, at the strict load."""
    import torch

    bare = tmp_path / "bare.pth"
    torch.save(TinyTrainer.build_model(tiny_cfg(tmp_path, **{"MODEL.HEADS.NUM_CLASSES": 3})).state_dict(), bare)
    cfg = tiny_cfg(tmp_path, **{"MODEL.WEIGHTS": str(bare)})
    with pytest.raises(ConfigValueError, match=f"^MODEL.HEADS.NUM_CLASSES is 0 and checkpoint {bare} gives no "
                                               "class count") as e:
        train_or_evaluate(cfg, argparse.Namespace(eval_only=True, resume=False), TinyTrainer)
    assert "\n" not in str(e.value)


def test_zero_epochs_fail_and_steps_after_the_end_warn(tmp_path, caplog):
    with pytest.raises(ConfigValueError, match="SOLVER.MAX_EPOCH: 0; expected at least 1") as e:
        TinyTrainer(tiny_cfg(tmp_path, **{"SOLVER.MAX_EPOCH": 0}))
    assert isinstance(e.value, UserError) and e.value.key == "SOLVER.MAX_EPOCH"
    with caplog.at_level(logging.WARNING):
        TinyTrainer(tiny_cfg(tmp_path, **{"SOLVER.STEPS": [2, 9]}))
    assert "decay at epoch(s) [9] never happens with SOLVER.MAX_EPOCH 4" in caplog.text


def test_resume_with_nothing_to_resume_or_nothing_left_warns(tmp_path, caplog):
    cfg = tiny_cfg(tmp_path, **{"SOLVER.CHECKPOINT_PERIOD": 1})
    with caplog.at_level(logging.WARNING):
        trainer = TinyTrainer(cfg)
        trainer.resume_or_load(resume=True)
    assert "has no last_checkpoint; starting a new run from scratch" in caplog.text
    trainer.train()
    shorter = tiny_cfg(tmp_path, **{"SOLVER.CHECKPOINT_PERIOD": 1, "SOLVER.MAX_EPOCH": 2, "SOLVER.STEPS": [1]})
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        TinyTrainer(shorter).resume_or_load(resume=True)
    assert "ends at epoch 4 and SOLVER.MAX_EPOCH is 2: nothing is left to train" in caplog.text


def test_a_growing_loss_warns_once_and_a_non_finite_one_stops_as_a_user_error(tmp_path, caplog):
    import torch

    from fastreid.engine.train_loop import SimpleTrainer, TrainingDivergedError
    from fastreid.utils.events import EventStorage

    t = SimpleTrainer(torch.nn.Linear(1, 1), [], torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1))
    t.iter = 0
    with caplog.at_level(logging.WARNING), EventStorage() as t.storage:
        for value in (8.0, 9.0, 6.7e12, 7e12):  # what every step reports, whatever its loss check
            t._write_metrics({"loss": torch.tensor(value)}, data_time=0.0)
    assert caplog.text.count("over 100x its first value") == 1
    with pytest.raises(TrainingDivergedError, match="non-finite.*lower SOLVER.BASE_LR") as e:
        t._total({"loss": torch.tensor(float("nan"))})
    assert isinstance(e.value, UserError) and isinstance(e.value, FloatingPointError)


def test_resume_with_another_optimizer_fails_and_a_changed_schedule_warns_and_applies(tmp_path, caplog):
    cfg = tiny_cfg(tmp_path, **{"SOLVER.CHECKPOINT_PERIOD": 1, "SOLVER.MAX_EPOCH": 2, "SOLVER.STEPS": [1]})
    TinyTrainer(cfg).train()
    adam = tiny_cfg(tmp_path, **{"SOLVER.CHECKPOINT_PERIOD": 1, "SOLVER.OPT": "Adam", "SOLVER.STEPS": [3]})
    with pytest.raises(ConfigValueError, match="trained with SOLVER.OPT SGD, the config now says Adam"):
        TinyTrainer(adam).resume_or_load(resume=True)
    longer = tiny_cfg(tmp_path, **{"SOLVER.CHECKPOINT_PERIOD": 1, "SOLVER.BASE_LR": 0.05, "SOLVER.STEPS": [3]})
    trainer = TinyTrainer(longer)
    with caplog.at_level(logging.WARNING):
        trainer.resume_or_load(resume=True)
    assert "SOLVER.BASE_LR 0.1 -> 0.05" in caplog.text and "SOLVER.MAX_EPOCH 2 -> 4" in caplog.text
    # epoch 2 of the new schedule: warm-up over, before its step at epoch 3 -> the new base LR
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
