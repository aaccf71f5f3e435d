"""default_setup, loggers, the event storage and PreciseBN's statistics."""

import argparse
import json
import logging

import pytest
import torch
import torch.nn as nn
from engine_parts import tiny_cfg

from fastreid.engine import default_setup
from fastreid.engine.defaults import save_run_config
from fastreid.engine.hooks import update_bn_stats
from fastreid.utils import logger as logger_mod
from fastreid.utils.events import EventStorage, JSONWriter, current_storage, get_event_storage
from fastreid.utils.logger import setup_logger


@pytest.fixture
def isolated_loggers():
    """Undo setup_logger's handlers/propagation afterwards so later tests' caplog still works."""
    names = ("fastreid", "msinet", "__main__")
    saved = {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate,
                 logging.getLogger(n).level) for n in names}
    attached = set(logger_mod._ATTACHED)
    yield
    for n, (handlers, propagate, level) in saved.items():
        lg = logging.getLogger(n)
        for h in lg.handlers:
            if h not in handlers:
                h.close()
        lg.handlers, lg.propagate, lg.level = handlers, propagate, level
    logger_mod._ATTACHED.clear()
    logger_mod._ATTACHED.update(attached)


def test_default_setup_writes_the_log_and_fixes_a_random_seed(tmp_path, isolated_loggers):
    cfg = tiny_cfg(tmp_path / "out", SEED=-1)
    args = argparse.Namespace(config_file="", eval_only=False, opts=[])
    seed = default_setup(cfg, args)
    assert seed >= 0 and cfg.SEED == seed and cfg.is_frozen()
    assert not (tmp_path / "out" / "config.yaml").exists()  # written once the run has started
    save_run_config(cfg)
    dumped = (tmp_path / "out" / "config.yaml").read_text()
    assert f"SEED: {seed}" in dumped
    log = (tmp_path / "out" / "log.txt").read_text()
    assert f"Using a random seed: {seed}" in log and "PyTorch" in log


def test_other_ranks_log_to_their_own_file(tmp_path):
    logger = setup_logger(str(tmp_path), distributed_rank=1, name="fastreid_test_rank", color=False)
    logger.info("hello from rank 1")
    for h in logger.handlers:
        h.flush()
    assert "hello from rank 1" in (tmp_path / "log.txt.rank1").read_text()
    assert not (tmp_path / "log.txt").exists()


def test_storage_is_visible_only_inside_a_run(tmp_path):
    assert current_storage() is None
    with pytest.raises(RuntimeError, match="outside a training run"):
        get_event_storage()
    writer = JSONWriter(str(tmp_path / "metrics.json"))
    with EventStorage(start_iter=5) as s:
        assert get_event_storage() is s and current_storage() is s
        s.put_scalar("loss_a", torch.tensor(2.0))
        s.put_scalar("lr", 0.1, smoothing_hint=False)
        writer.write()
        s.iter = 6
        s.put_scalar("loss_a", 4.0)
        writer.write()
        writer.write()  # nothing new: no extra line
    writer.close()
    assert current_storage() is None
    lines = [json.loads(x) for x in (tmp_path / "metrics.json").read_text().splitlines()]
    assert lines == [{"iteration": 5, "epoch": 0, "loss_a": 2.0, "lr": 0.1},
                     {"iteration": 6, "epoch": 0, "loss_a": 3.0}]  # median of the window


def test_precise_bn_recovers_the_exact_data_statistics():
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(3)
    model = nn.Sequential(bn)
    batches = [torch.randn(8, 3) * 2 + 5 for _ in range(4)]
    update_bn_stats(model, batches, num_iter=4)
    data = torch.cat(batches)
    assert torch.allclose(bn.running_mean, data.mean(0), atol=1e-5)
    # per-batch unbiased variances averaged, which is what BN accumulates
    assert torch.allclose(bn.running_var, torch.stack([b.var(0) for b in batches]).mean(0), atol=1e-5)
    assert bn.momentum == 0.1


def test_console_logger_is_configured_once(tmp_path):
    a = setup_logger(str(tmp_path), name="fastreid_test_once")
    n = len(a.handlers)
    b = setup_logger(str(tmp_path), name="fastreid_test_once")
    assert a is b and len(b.handlers) == n == 2
    assert isinstance(a, logging.Logger)
