"""Entry points end with one line, no traceback, when the user's input is wrong."""

import subprocess
import sys
from pathlib import Path

import pytest

from fastreid.config import ConfigError
from fastreid.utils.errors import exit_on_user_error

REPO = Path(__file__).resolve().parents[2]


def _run(script, *args, tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / script), *args, "OUTPUT_DIR", str(tmp_path / "out"),
                           "DATASETS.ROOT", str(tmp_path / "no_datasets_here")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stderr


def test_user_error_becomes_one_line_exit():
    with pytest.raises(SystemExit, match=r"^error: unknown key 'X'; closest: Y$"):
        with exit_on_user_error():
            raise ConfigError("unknown key 'X';\n closest: Y")


def test_a_bug_keeps_its_traceback():
    with pytest.raises(ZeroDivisionError):
        with exit_on_user_error():
            raise ZeroDivisionError("a bug")


def test_missing_dataset_ends_train_net_with_one_line(tmp_path):
    rc, err = _run("tools/train_net.py", "--config-file", str(REPO / "configs/Market1501/bagtricks_R50.yml"),
                   tmp_path=tmp_path)
    assert rc != 0 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: Market1501: dataset folder not found") and "DATASETS.ROOT" in last


def test_bad_genotype_ends_msinet_train_net_with_the_valid_ops(tmp_path):
    rc, err = _run("projects/MSINet/train_net.py", "--config-file",
                   str(REPO / "projects/MSINet/configs/Demo/msinet_synthetic.yml"), "MODEL.MSINET.GENOTYPE", "fly",
                   tmp_path=tmp_path)
    assert rc != 0 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "MODEL.MSINET.GENOTYPE: 'fly'" in last and "none, exchange, gate, attention" in last
