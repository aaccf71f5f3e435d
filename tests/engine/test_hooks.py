"""Hook call order, failure handling, non-finite losses and the evaluation / best-checkpoint rules."""

import pytest
import torch
from engine_parts import TinyNet, TinyTrainer, tiny_cfg, tiny_loader

from fastreid.engine import CallbackHook, EvalHook, HookBase, SimpleTrainer, TrainerBase
from fastreid.utils.errors import ConfigValueError


class Recorder(HookBase):
    def __init__(self, log):
        self.log = log

    def before_train(self):
        self.log.append("before_train")

    def after_train(self):
        self.log.append("after_train")

    def before_epoch(self):
        self.log.append(f"before_epoch{self.trainer.epoch}")

    def after_epoch(self):
        self.log.append(f"after_epoch{self.trainer.epoch}")

    def before_step(self):
        self.log.append(f"before_step{self.trainer.iter}")

    def after_step(self):
        self.log.append(f"after_step{self.trainer.iter}")


class StepTrainer(TrainerBase):
    def __init__(self, log, fail_at=None):
        super().__init__()
        self.log, self.fail_at = log, fail_at

    def run_step(self):
        if self.iter == self.fail_at:
            raise RuntimeError("boom")
        self.log.append(f"run_step{self.iter}")


def test_hooks_run_in_documented_order():
    log = []
    t = StepTrainer(log)
    t.register_hooks([Recorder(log), None])
    t.train(start_epoch=1, max_epoch=3, iters_per_epoch=2)
    expected = ["before_train"]
    for epoch in (1, 2):
        expected.append(f"before_epoch{epoch}")
        for it in (2 * epoch, 2 * epoch + 1):
            expected += [f"before_step{it}", f"run_step{it}", f"after_step{it}"]
        expected.append(f"after_epoch{epoch}")
    expected.append("after_train")
    assert log == expected


def test_epochs_of_their_own_length_run_their_iterations_and_end_on_the_last():
    log, evaluated = [], []
    t = StepTrainer(log)
    t.register_hooks([EvalHook(0, lambda: evaluated.append(t.epoch) or {})])
    t.train(start_epoch=1, max_epoch=3, iters_per_epoch=[2, 3, 1])
    assert log == ["run_step2", "run_step3", "run_step4", "run_step5"]  # epoch 1: 2..4, epoch 2: 5
    assert (t.start_iter, t.max_iter) == (2, 6) and evaluated == [2]  # only after the last epoch


def test_after_train_runs_when_a_step_fails():
    log = []
    t = StepTrainer(log, fail_at=1)
    t.register_hooks([Recorder(log)])
    with pytest.raises(RuntimeError, match="boom"):
        t.train(0, 2, 2)
    assert log[-1] == "after_train" and "after_epoch0" not in log


def test_hooks_registered_in_order_share_the_trainer():
    calls = []
    t = StepTrainer([])
    t.register_hooks([CallbackHook(before_train=lambda tr: calls.append(("a", tr.iter))),
                      CallbackHook(before_train=lambda tr: calls.append(("b", tr.iter)))])
    t.train(3, 4, 5)
    assert calls == [("a", 15), ("b", 15)]


class NaNNet(TinyNet):
    def forward(self, batch):
        out = super().forward(batch)
        return {"loss_cls": out["loss_cls"], "loss_bad": torch.tensor(float("nan"))}


def test_non_finite_loss_names_iteration_and_terms():
    model = NaNNet()
    t = SimpleTrainer(model, tiny_loader(), torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(FloatingPointError) as e:
        t.train(0, 1, 3)
    msg = str(e.value)
    assert "iteration 0" in msg and "loss_cls=" in msg and "loss_bad=nan" in msg


def _eval_epochs(period, max_epoch):
    epochs = []
    t = StepTrainer([])
    t.register_hooks([EvalHook(period, lambda: epochs.append(t.epoch) or {"metric": 1.0})])
    t.train(0, max_epoch, 1)
    return epochs


def test_eval_period_zero_evaluates_only_at_the_end():
    assert _eval_epochs(0, 5) == [4]


def test_eval_period_always_includes_the_last_epoch():
    assert _eval_epochs(2, 5) == [1, 3, 4]


def test_best_checkpoint_is_checked_after_every_evaluation(tmp_path, monkeypatch):
    scores = iter([10.0, 50.0, 20.0, 30.0])
    monkeypatch.setattr(TinyTrainer, "test", classmethod(lambda cls, cfg, model: {"metric": next(scores)}))
    trainer = TinyTrainer(tiny_cfg(tmp_path, **{"SOLVER.CHECKPOINT_PERIOD": 3, "TEST.EVAL_PERIOD": 1}))
    trainer.train()
    best = torch.load(tmp_path / "model_best.pth", weights_only=False)
    assert (best["epoch"], best["best_metric"]) == (1, 50.0)  # epoch 1 is not a checkpoint epoch
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == ["model_0002.pth", "model_best.pth",
                                                              "model_final.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_final.pth"


def test_layer_freeze_keeps_frozen_weights_and_bn_stats(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"MODEL.FREEZE_LAYERS": ["backbone"], "SOLVER.FREEZE_ITERS": 3,
                                "SOLVER.MAX_EPOCH": 2, "SOLVER.CHECKPOINT_PERIOD": 5})
    trainer = TinyTrainer(cfg)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    seen = {}

    def snap(tr):
        if tr.iter == 2:
            seen.update({k: v.clone() for k, v in tr.model.state_dict().items()})
    trainer.register_hooks([CallbackHook(after_step=snap)])
    trainer.train()
    for k in ("backbone.0.weight", "backbone.1.running_mean"):
        assert torch.equal(seen[k], before[k]), k  # frozen for iterations 0..2
        assert not torch.equal(trainer.model.state_dict()[k], before[k]), k  # trained afterwards
    assert not torch.equal(seen["heads.weight"], before["heads.weight"])


def test_amp_trainer_on_cpu_warns_and_matches_fp32(caplog):
    from fastreid.engine import AMPTrainer

    results = []
    for cls in (SimpleTrainer, AMPTrainer):
        torch.manual_seed(0)
        model = TinyNet()
        with caplog.at_level("WARNING", logger="fastreid.engine.train_loop"):
            t = cls(model, tiny_loader(), torch.optim.SGD(model.parameters(), lr=0.1))
        t.train(0, 1, 3)
        results.append(model.heads.weight.detach().clone())
    assert "needs CUDA" in caplog.text
    assert torch.equal(results[0], results[1])


def test_checkpoint_max_keep_deletes_only_older_periodic_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setattr(TinyTrainer, "test", classmethod(lambda cls, cfg, model: {"metric": 1.0}))
    cfg = tiny_cfg(tmp_path, **{"SOLVER.MAX_EPOCH": 6, "SOLVER.CHECKPOINT_PERIOD": 1, "TEST.EVAL_PERIOD": 0,
                                "SOLVER.CHECKPOINT_MAX_KEEP": 2})
    (tmp_path / "model_notes.pth").write_bytes(b"a user's file")  # not a periodic checkpoint's name
    TinyTrainer(cfg).train()
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == ["model_0003.pth", "model_0004.pth",
                                                              "model_best.pth", "model_final.pth",
                                                              "model_notes.pth"]


def test_checkpoint_max_keep_must_be_a_count(tmp_path):
    with pytest.raises(ConfigValueError, match="SOLVER.CHECKPOINT_MAX_KEEP: -1"):
        TinyTrainer(tiny_cfg(tmp_path, **{"SOLVER.CHECKPOINT_MAX_KEEP": -1}))
