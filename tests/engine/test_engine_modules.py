"""The engine's modules after the split of defaults.py: old import paths still work, and the command-line
and inference modules do not import the trainer (no circle cli -> predictor -> defaults -> cli)."""

import ast
from pathlib import Path

import fastreid.engine as engine
from fastreid.engine import cli, defaults, run_dir, trainer

ENGINE = Path(engine.__file__).parent


def test_the_names_entry_points_import_keep_their_paths():
    assert engine.DefaultTrainer is defaults.DefaultTrainer is trainer.DefaultTrainer
    assert engine.default_argument_parser is defaults.default_argument_parser is cli.default_argument_parser
    assert engine.start_run is defaults.start_run is run_dir.start_run
    assert defaults.save_run_config is run_dir.save_run_config
    assert engine.train_or_evaluate is defaults.train_or_evaluate and engine.default_setup is defaults.default_setup


def _imports(name):
    """Every module ``engine/<name>.py`` imports, at its top or inside a function."""
    out = set()
    for node in ast.walk(ast.parse((ENGINE / f"{name}.py").read_text())):
        if isinstance(node, ast.ImportFrom):
            out.add(("." * node.level) + (node.module or ""))
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return out


def test_cli_and_predictor_do_not_import_the_trainer_or_the_entry_point_setup():
    heavy = {"fastreid.engine.defaults", ".defaults", "fastreid.engine.trainer", ".trainer"}
    for name in ("cli", "predictor"):
        assert not _imports(name) & heavy, name
    assert not {".defaults", ".cli", "fastreid.engine.cli"} & _imports("trainer")  # the trainer needs no command line
