"""A run stopped after epoch k and resumed with --resume ends with exactly the weights of an
uninterrupted run (CPU, fixed SEED)."""

import json
import os
import signal

import pytest
import torch
from engine_parts import TinyTrainer, tiny_cfg

from fastreid.engine import HookBase
from fastreid.utils.checkpoint import load_torch_file


class StopAtEpoch(HookBase):
    """Simulates Ctrl-C at the start of ``epoch``."""

    def __init__(self, epoch):
        self.epoch = epoch

    def before_epoch(self):
        if self.trainer.epoch == self.epoch:
            raise KeyboardInterrupt


def _train(cfg, resume=False, stop_at=None):
    trainer = TinyTrainer(cfg)
    if stop_at is not None:
        trainer.register_hooks([StopAtEpoch(stop_at)])
    trainer.resume_or_load(resume=resume)
    trainer.train()
    return trainer


def _weights(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


@pytest.mark.slow
@pytest.mark.parametrize("period", [1, 10])
def test_resume_after_interrupt_matches_uninterrupted_run(tmp_path, period):
    full = _train(tiny_cfg(tmp_path / "full", **{"SOLVER.CHECKPOINT_PERIOD": period}))
    expected = _weights(full)
    assert os.path.isfile(tmp_path / "full" / "model_final.pth")

    cfg = tiny_cfg(tmp_path / "split", **{"SOLVER.CHECKPOINT_PERIOD": period})
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, stop_at=2)
    with open(tmp_path / "split" / "last_checkpoint") as f:
        assert f.read().strip() == "model_0001.pth"  # the last completed epoch, whatever the period

    torch.rand(100)  # disturb the global RNG: resume must not depend on it
    resumed = _train(cfg, resume=True)
    assert resumed.start_epoch == 2
    got = _weights(resumed)
    assert got.keys() == expected.keys()
    for k in expected:
        assert torch.equal(got[k], expected[k]), k
    assert resumed.scheduler.get_last_lr() == full.scheduler.get_last_lr()
    # the resumed run did train: weights differ from the checkpoint it started from
    start = load_torch_file(str(tmp_path / "split" / "model_0001.pth"))["model"]
    assert not torch.equal(start["heads.weight"], got["heads.weight"])


def test_training_writes_metrics_and_best_checkpoint(tmp_path):
    TinyTrainer.eval_calls.clear()
    trainer = _train(tiny_cfg(tmp_path, **{"SOLVER.CHECKPOINT_PERIOD": 3, "TEST.EVAL_PERIOD": 1}))
    assert len(TinyTrainer.eval_calls) == 4
    best = load_torch_file(str(tmp_path / "model_best.pth"))
    assert best["best_metric"] == max(TinyTrainer.eval_calls)
    assert best["epoch"] == TinyTrainer.eval_calls.index(max(TinyTrainer.eval_calls))
    assert best["num_classes"] == 3
    lines = [json.loads(x) for x in open(tmp_path / "metrics.json")]
    assert {"iteration", "epoch", "total_loss", "loss_cls", "lr", "time"} <= set(lines[0])
    assert lines[-1]["metric"] == TinyTrainer.eval_calls[-1]
    assert trainer.cfg.MODEL.HEADS.NUM_CLASSES == 3  # auto-set from the train set


class FailingEvalTrainer(TinyTrainer):
    """Evaluation raises ``error`` at epoch ``fail_at`` (a broken test set, Ctrl-C while evaluating)."""

    fail_at, error = 0, ValueError

    @classmethod
    def test(cls, cfg, model):
        if len(cls.eval_calls) == cls.fail_at:
            cls.eval_calls.append(None)
            raise cls.error("broken query image")
        return super().test(cfg, model)


@pytest.mark.parametrize("fail_at, error, expected", [
    (3, ValueError, "model_final.pth"),          # the last evaluation fails: the training is kept
    (1, KeyboardInterrupt, "model_0001.pth"),    # Ctrl-C while evaluating a non-checkpoint epoch
])
def test_weights_are_on_disk_before_an_evaluation_can_fail(tmp_path, fail_at, error, expected):
    FailingEvalTrainer.eval_calls, FailingEvalTrainer.fail_at, FailingEvalTrainer.error = [], fail_at, error
    cfg = tiny_cfg(tmp_path, **{"SOLVER.CHECKPOINT_PERIOD": 10, "TEST.EVAL_PERIOD": 1})
    trainer = FailingEvalTrainer(cfg)
    with pytest.raises(error):
        trainer.train()
    assert (tmp_path / "last_checkpoint").read_text().strip() == expected
    saved = load_torch_file(str(tmp_path / expected))
    assert saved["epoch"] == fail_at
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(saved["model"][k], v), k
    if error is KeyboardInterrupt:
        resumed = TinyTrainer(cfg)
        resumed.resume_or_load(resume=True)
        assert resumed.start_epoch == fail_at + 1


def test_resume_keeps_the_best_metric_of_an_evaluation_after_the_last_checkpoint(tmp_path):
    TinyTrainer.eval_calls.clear()
    cfg = tiny_cfg(tmp_path, **{"SOLVER.CHECKPOINT_PERIOD": 1, "TEST.EVAL_PERIOD": 1})
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, stop_at=2)
    best = load_torch_file(str(tmp_path / "model_best.pth"))["best_metric"]
    resumed = TinyTrainer(cfg)
    resumed.resume_or_load(resume=True)
    assert resumed.best_metric == best == max(TinyTrainer.eval_calls)


class SigtermAtEpoch(HookBase):
    def __init__(self, epoch):
        self.epoch = epoch

    def before_epoch(self):
        if self.trainer.epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_stops_like_ctrl_c_and_leaves_a_resumable_run(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"SOLVER.CHECKPOINT_PERIOD": 10})
    trainer = TinyTrainer(cfg)
    trainer.register_hooks([SigtermAtEpoch(2)])
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        trainer.train()
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is only installed while training
    assert (tmp_path / "last_checkpoint").read_text().strip() == "model_0001.pth"


class RecordSigchld(HookBase):
    def after_train(self):
        self.handler = signal.getsignal(signal.SIGCHLD)


class WorkerTrainer(TinyTrainer):
    @classmethod
    def build_train_loader(cls, cfg):
        from engine_parts import EpochSampler, VectorDataset
        from torch.utils.data import DataLoader

        ds = VectorDataset(n=24, seed=0)
        return DataLoader(ds, batch_size=cfg.SOLVER.IMS_PER_BATCH, sampler=EpochSampler(len(ds)), num_workers=1)


def test_the_final_save_is_not_interrupted_by_loader_workers_ending(tmp_path):
    """A group-wide Ctrl-C / SIGTERM also ends the loader workers; PyTorch's SIGCHLD handler must not
    raise inside the last checkpoint save, so after_train runs with SIGCHLD at its default."""
    trainer = WorkerTrainer(tiny_cfg(tmp_path, **{"SOLVER.MAX_EPOCH": 2, "SOLVER.STEPS": [1]}))
    record = RecordSigchld()
    trainer.register_hooks([record])
    before = signal.getsignal(signal.SIGCHLD)
    trainer.train()
    assert record.handler == signal.SIG_DFL
    assert signal.getsignal(signal.SIGCHLD) != signal.SIG_DFL or before == signal.SIG_DFL  # restored after
