"""``fastreid.config.load_config``: what every entry point runs (defaults with the projects' keys, a YAML,
overrides), frozen unless asked otherwise."""

import pytest

from fastreid.config import ConfigError, load_config


def _yaml(tmp_path, text):
    path = tmp_path / "x.yml"
    path.write_text(text)
    return str(path)


def test_yaml_then_overrides_with_the_projects_keys(tmp_path):
    path = _yaml(tmp_path, "MODEL:\n  BACKBONE:\n    NAME: osnet\nSOLVER:\n  MAX_EPOCH: 7\n")
    cfg = load_config(path, ["SOLVER.MAX_EPOCH", "9", "UNSUP.CLUSTER.EPS", "0.4", "MODEL.MSINET.GENOTYPE", "msmt"])
    assert cfg.MODEL.BACKBONE.NAME == "osnet"
    assert cfg.SOLVER.MAX_EPOCH == 9  # the override wins over the file
    assert cfg.UNSUP.CLUSTER.EPS == 0.4 and cfg.MODEL.MSINET.GENOTYPE == "msmt"  # keys of both projects
    assert cfg.is_frozen()
    with pytest.raises(AttributeError):
        cfg.SOLVER.MAX_EPOCH = 3


def test_unfrozen_on_request_and_defaults_without_a_file():
    cfg = load_config("", ["SOLVER.MAX_EPOCH", "5"], freeze=False)
    cfg.SEED = 3
    assert cfg.SOLVER.MAX_EPOCH == 5 and cfg.SEED == 3 and not cfg.is_frozen()


def test_an_unknown_key_is_refused(tmp_path):
    with pytest.raises((ConfigError, KeyError), match="SOLVER.MAX_EPOCHS"):
        load_config(_yaml(tmp_path, "SOLVER:\n  MAX_EPOCH: 7\n"), ["SOLVER.MAX_EPOCHS", "9"])
