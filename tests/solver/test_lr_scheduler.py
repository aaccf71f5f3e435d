"""LR values of the warm-up + multi-step and cosine schedules at chosen iterations and epochs."""

import math

import pytest
import torch
import torch.nn as nn

from fastreid.config import get_cfg
from fastreid.solver import build_lr_scheduler, build_optimizer


def _lrs(cfg, iters_per_epoch, n_iters):
    """LR used at each of the first ``n_iters`` iterations (the scheduler steps after each)."""
    torch.manual_seed(0)
    opt = build_optimizer(cfg, nn.Linear(2, 2))
    sched = build_lr_scheduler(cfg, opt, iters_per_epoch)
    out = []
    for _ in range(n_iters):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def _msinet_cfg():
    cfg = get_cfg(plugins=True)
    s = cfg.SOLVER
    s.OPT, s.BASE_LR, s.MAX_EPOCH = "SGD", 0.065, 350
    s.WARMUP_METHOD, s.WARMUP_FACTOR, s.WARMUP_EPOCHS, s.WARMUP_ITERS = "linear", 0.01, 10, 0
    s.SCHED, s.STEPS, s.GAMMA = "MultiStepLR", [150, 225, 300], 0.1
    return cfg


def test_msinet_recipe_values_at_chosen_epochs():
    ipe = 2
    lrs = _lrs(_msinet_cfg(), ipe, 350 * ipe)
    base = 0.065
    expected = {  # epoch -> LR at the epoch's first iteration
        0: base * 0.01,
        5: base * (0.01 * 0.5 + 0.5),  # half-way through the linear warm-up
        10: base,
        149: base,
        150: base * 0.1,
        224: base * 0.1,
        225: base * 0.01,
        300: base * 0.001,
        349: base * 0.001,
    }
    for epoch, lr in expected.items():
        assert lrs[epoch * ipe] == pytest.approx(lr, rel=1e-9), epoch
    # within an epoch the warm-up keeps rising per iteration
    assert lrs[1] == pytest.approx(base * (0.01 + 0.99 * 1 / 20))


def test_constant_warmup_in_iterations_then_full_lr():
    cfg = get_cfg(plugins=True)
    s = cfg.SOLVER
    s.BASE_LR, s.WARMUP_METHOD, s.WARMUP_FACTOR, s.WARMUP_ITERS, s.STEPS = 1.0, "constant", 0.1, 5, [100]
    lrs = _lrs(cfg, 10, 8)
    assert lrs == pytest.approx([0.1] * 5 + [1.0] * 3)


def test_cosine_after_delay_reaches_eta_min():
    cfg = get_cfg(plugins=True)
    s = cfg.SOLVER
    s.BASE_LR, s.SCHED, s.MAX_EPOCH, s.DELAY_EPOCHS, s.ETA_MIN_LR = 1.0, "CosineAnnealingLR", 10, 4, 0.01
    s.WARMUP_ITERS = s.WARMUP_EPOCHS = 0
    ipe = 3
    lrs = _lrs(cfg, ipe, 10 * ipe + 1)
    assert lrs[: 4 * ipe] == [1.0] * (4 * ipe)  # delay at full LR
    half = 4 * ipe + (6 * ipe) // 2  # half-way through the cosine
    assert lrs[half] == pytest.approx(0.01 + 0.99 * 0.5)
    assert lrs[10 * ipe] == pytest.approx(0.01)
    assert all(a >= b for a, b in zip(lrs[4 * ipe:], lrs[4 * ipe + 1:]))


def test_group_factors_scale_with_the_schedule():
    cfg = _msinet_cfg()
    cfg.SOLVER.BIAS_LR_FACTOR = 2.0
    opt = build_optimizer(cfg, nn.Linear(2, 2))
    sched = build_lr_scheduler(cfg, opt, 1)
    for _ in range(150):
        opt.step()
        sched.step()
    lrs = sorted(g["lr"] for g in opt.param_groups)
    assert lrs == pytest.approx([0.0065, 0.013])


def test_state_dict_resumes_the_schedule_exactly():
    cfg = _msinet_cfg()
    opt = build_optimizer(cfg, nn.Linear(2, 2))
    sched = build_lr_scheduler(cfg, opt, 3)
    for _ in range(40):
        opt.step()
        sched.step()
    state_o, state_s = opt.state_dict(), sched.state_dict()
    opt2 = build_optimizer(cfg, nn.Linear(2, 2))
    sched2 = build_lr_scheduler(cfg, opt2, 3)
    opt2.load_state_dict(state_o)
    sched2.load_state_dict(state_s)
    for _ in range(500):
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
        for o, s in ((opt, sched), (opt2, sched2)):
            o.step()
            s.step()


@pytest.mark.parametrize("key,value,needle", [
    ("SCHED", "StepLR", "SOLVER.SCHED: 'StepLR'"),
    ("WARMUP_METHOD", "exp", "SOLVER.WARMUP_METHOD: 'exp'"),
    ("STEPS", [20, 10], "SOLVER.STEPS"),
])
def test_bad_schedule_settings_are_rejected_by_name(key, value, needle):
    cfg = get_cfg(plugins=True)
    cfg.SOLVER[key] = value
    opt = build_optimizer(cfg, nn.Linear(2, 2))
    with pytest.raises(ValueError, match=needle.replace("[", r"\[")):
        build_lr_scheduler(cfg, opt, 2)


def test_warmup_length_takes_the_larger_of_iters_and_epochs():
    cfg = get_cfg(plugins=True)
    s = cfg.SOLVER
    s.BASE_LR, s.WARMUP_FACTOR, s.WARMUP_ITERS, s.WARMUP_EPOCHS = 1.0, 0.0, 4, 2
    lrs = _lrs(cfg, 5, 11)
    assert lrs[5] == pytest.approx(0.5) and lrs[10] == 1.0
    assert not math.isclose(lrs[4], 1.0)


def test_resumed_schedule_follows_the_current_config():
    cfg = get_cfg(plugins=True)
    s = cfg.SOLVER
    s.BASE_LR, s.SCHED, s.MAX_EPOCH, s.ETA_MIN_LR, s.WARMUP_ITERS = 1.0, "CosineAnnealingLR", 4, 0.0, 0
    opt = build_optimizer(cfg, nn.Linear(2, 2))
    sched = build_lr_scheduler(cfg, opt, 1)
    for _ in range(2):
        opt.step()
        sched.step()
    s.MAX_EPOCH = 8  # resume with a longer run
    opt2 = build_optimizer(cfg, nn.Linear(2, 2))
    sched2 = build_lr_scheduler(cfg, opt2, 1)
    sched2.load_state_dict(sched.state_dict())
    opt2.step()
    sched2.step()
    assert sched2.last_epoch == 3
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.5 * (1 + math.cos(math.pi * 3 / 8)))


def _authors_lr(base, epoch, warmup_epochs=10, factor=0.01, steps=(150, 225, 300)):
    """The MSINet authors' rule (their per-epoch scheduler, stepped at each epoch's end): the warm-up
    factor of epoch ``e`` is ``factor + (1 - factor) * e / warmup_epochs``, then 10x decays at the steps."""
    warm = factor + (1 - factor) * epoch / warmup_epochs if epoch < warmup_epochs else 1.0
    return base * warm * 0.1 ** sum(1 for s in steps if s <= epoch)


def test_a_warmup_stepped_per_epoch_holds_one_value_through_each_epoch():
    cfg = _msinet_cfg()
    cfg.SOLVER.WARMUP_STEPPING = "epoch"
    ipe = 3
    lrs = _lrs(cfg, ipe, 160 * ipe)
    for it, lr in enumerate(lrs):
        assert lr == pytest.approx(_authors_lr(0.065, it // ipe), rel=1e-12), it
    assert lrs[1] == lrs[0] == pytest.approx(0.065 * 0.01)  # no rise within the epoch


def test_epochs_of_their_own_length_carry_the_warmup_and_the_milestones():
    cfg = _msinet_cfg()
    s = cfg.SOLVER
    s.WARMUP_STEPPING, s.WARMUP_EPOCHS, s.STEPS, s.MAX_EPOCH = "epoch", 3, [5, 7], 8
    lengths = [2, 4, 1, 3, 5, 2, 3, 1]
    lrs = _lrs(cfg, lengths, sum(lengths))
    epochs = [e for e, n in enumerate(lengths) for _ in range(n)]
    assert lrs == pytest.approx([_authors_lr(0.065, e, 3, 0.01, (5, 7)) for e in epochs], rel=1e-12)
    # stepped per iteration over the same epochs, the warm-up rises within them (today's default)
    s.WARMUP_STEPPING = "iteration"
    per_iter = _lrs(cfg, lengths, sum(lengths))
    assert per_iter[1] > per_iter[0] and per_iter[2 + 4 + 1] == pytest.approx(0.065)  # 3 epochs = 7 iterations


def test_epoch_lengths_place_iterations_in_epochs():
    from fastreid.solver import EpochLengths

    fixed = EpochLengths(4)
    assert [fixed.start(e) for e in range(4)] == [0, 4, 8, 12]
    assert [fixed.epoch_of(i) for i in (0, 3, 4, 11, 12)] == [0, 0, 1, 2, 3]
    own = EpochLengths([2, 3, 1])
    assert [own.start(e) for e in range(6)] == [0, 2, 5, 6, 7, 8]  # the last length repeats
    assert [own.epoch_of(i) for i in range(8)] == [0, 0, 1, 1, 1, 2, 3, 4]
    assert [own.length(e) for e in range(5)] == [2, 3, 1, 1, 1]
    with pytest.raises(ValueError, match="iters_per_epoch"):
        EpochLengths([3, 0])


@pytest.mark.parametrize("changes,needle", [
    ({"WARMUP_STEPPING": "epochs"}, "SOLVER.WARMUP_STEPPING: 'epochs' is not a warm-up stepping; expected one of "
                                    "iteration, epoch"),
    ({"WARMUP_STEPPING": "epoch", "WARMUP_ITERS": 5}, "SOLVER.WARMUP_ITERS: 5 iterations, but SOLVER.WARMUP_STEPPING"),
])
def test_bad_warmup_stepping_settings_are_rejected_by_name(changes, needle):
    cfg = _msinet_cfg()
    for k, v in changes.items():
        cfg.SOLVER[k] = v
    opt = build_optimizer(cfg, nn.Linear(2, 2))
    with pytest.raises(ValueError, match=needle):
        build_lr_scheduler(cfg, opt, 2)
