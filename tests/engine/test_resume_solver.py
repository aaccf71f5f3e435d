"""A resume compares the recorded SOLVER values with the config's: another optimizer stops in one line, a
changed schedule (the warm-up's stepping included) is a warning, keys an older checkpoint lacks are not."""

import logging

import pytest

from fastreid.config import get_cfg
from fastreid.engine.resume import check_resumed_solver, solver_signature
from fastreid.utils.errors import ConfigValueError


def _cfg(**solver):
    cfg = get_cfg()
    for k, v in solver.items():
        setattr(cfg.SOLVER, k, v)
    return cfg


def test_changed_warmup_stepping_is_reported(caplog):
    saved = {"solver": solver_signature(_cfg(WARMUP_STEPPING="iteration"))}
    with caplog.at_level(logging.WARNING, logger="fastreid.engine.resume"):
        check_resumed_solver("model_0003.pth", saved, _cfg(WARMUP_STEPPING="epoch"))
    assert "SOLVER.WARMUP_STEPPING iteration -> epoch" in caplog.text


def test_keys_an_older_checkpoint_did_not_record_are_not_changes(caplog):
    old = solver_signature(_cfg())
    del old["WARMUP_STEPPING"]
    with caplog.at_level(logging.WARNING, logger="fastreid.engine.resume"):
        check_resumed_solver("model_0003.pth", {"solver": old}, _cfg(WARMUP_STEPPING="epoch"))
    assert "changed solver" not in caplog.text


def test_another_optimizer_stops_with_one_line():
    saved = {"solver": solver_signature(_cfg(OPT="SGD"))}
    with pytest.raises(ConfigValueError, match="SOLVER.OPT SGD, the config now says Adam"):
        check_resumed_solver("model_0003.pth", saved, _cfg(OPT="Adam"))
