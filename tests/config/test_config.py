"""Config: _BASE_ inheritance, unknown-key errors that name key/file/closest keys, SEED and DEVICE."""

import pytest
import torch

from fastreid.config import ConfigError, get_cfg


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_base_is_relative_to_the_including_file_and_recursive(tmp_path):
    _write(tmp_path / "Base-root.yml", "SOLVER:\n  BASE_LR: 0.5\n  MAX_EPOCH: 7\nSEED: 1\n")
    _write(tmp_path / "mid" / "Base-mid.yml", "_BASE_: ../Base-root.yml\nSOLVER:\n  MAX_EPOCH: 9\n")
    leaf = _write(tmp_path / "mid" / "exp" / "run.yml",
                  "_BASE_: ../Base-mid.yml\nSEED: 3\nSOLVER:\n  STEPS: [4, 6]\n")
    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(leaf))
    assert cfg.SOLVER.BASE_LR == 0.5  # from the root, two levels up
    assert cfg.SOLVER.MAX_EPOCH == 9  # middle overrides root
    assert cfg.SEED == 3  # leaf overrides root
    assert list(cfg.SOLVER.STEPS) == [4, 6]
    assert "_BASE_" not in cfg


def test_unknown_yaml_key_names_key_file_and_closest_keys(tmp_path):
    bad = _write(tmp_path / "bad.yml", "SOLVER:\n  BASE_LRR: 0.1\n")
    with pytest.raises(ConfigError) as e:
        get_cfg(plugins=True).merge_from_file(str(bad))
    msg = str(e.value)
    assert "SOLVER.BASE_LRR" in msg and str(bad) in msg and "SOLVER.BASE_LR" in msg
    assert "\n" not in msg


def test_unknown_key_in_a_base_file_is_reported(tmp_path):
    _write(tmp_path / "base.yml", "MODEL:\n  BACKBONE:\n    NAMEE: resnet50\n")
    child = _write(tmp_path / "child.yml", "_BASE_: base.yml\n")
    with pytest.raises(ConfigError, match="MODEL.BACKBONE.NAMEE.*MODEL.BACKBONE.NAME"):
        get_cfg(plugins=True).merge_from_file(str(child))


def test_unknown_command_line_key_names_the_command_line_and_closest_keys():
    with pytest.raises(ConfigError) as e:
        get_cfg(plugins=True).merge_from_list(["SOLVER.MAX_EPOCHS", "3"])
    msg = str(e.value)
    assert "SOLVER.MAX_EPOCHS" in msg and "command-line" in msg and "SOLVER.MAX_EPOCH" in msg


def test_command_line_overrides_are_typed_and_win_over_the_file(tmp_path):
    f = _write(tmp_path / "a.yml", "SOLVER:\n  BASE_LR: 0.5\n")
    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(f))
    cfg.merge_from_list(["SOLVER.BASE_LR", "0.25", "SEED", "42", "SOLVER.STEPS", "[1, 2]"])
    assert (cfg.SOLVER.BASE_LR, cfg.SEED, list(cfg.SOLVER.STEPS)) == (0.25, 42, [1, 2])


def test_seed_defaults_to_random_and_device_to_what_is_available():
    cfg = get_cfg(plugins=True)
    assert cfg.SEED < 0
    assert cfg.MODEL.DEVICE == "auto"  # the same config.yaml on every machine
    from fastreid.utils.env import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        from fastreid.utils.errors import ConfigValueError

        with pytest.raises(ConfigValueError, match="MODEL.DEVICE: 'cuda' but no CUDA GPU is visible"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="'gpu0' is not a device"):
        resolve_device("gpu0")


def test_get_cfg_is_pure_and_plugins_are_explicit_and_a_fresh_copy():
    assert "MSINET" not in get_cfg().MODEL  # the core's defaults only
    a = get_cfg(plugins=True)
    assert "MSINET" in a.MODEL  # added by the msinet fastreid.config entry point
    a.SOLVER.BASE_LR = 123.0
    assert get_cfg(plugins=True).SOLVER.BASE_LR != 123.0


def test_a_broken_plugin_fails_loudly_with_its_own_error(monkeypatch):
    from fastreid.utils import plugins

    class BrokenEntryPoint:
        name, value = "brokenproj", "brokenproj.config:add_config"

        def load(self):
            raise ImportError("No module named 'brokenproj_dependency'")

    monkeypatch.setattr(plugins, "_entry_points", lambda group: [BrokenEntryPoint()])
    with pytest.raises(plugins.PluginError, match=r"plugin 'brokenproj'.*ImportError: No module named "
                                                  r"'brokenproj_dependency'; fix or uninstall"):
        get_cfg(plugins=True)
