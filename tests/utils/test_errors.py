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
    assert "MODEL.MSINET.GENOTYPE: 'fly'" in last and "none, gate, attention, exchange" in last


class _BrokenImages:
    def __len__(self):
        return 4

    def __getitem__(self, i):
        from fastreid.data.data_utils import CorruptImageError

        raise CorruptImageError(f"cannot read image /data/img{i}.jpg: truncated; fix or remove the file")


def test_an_error_from_a_loader_worker_is_one_line_with_the_original_message():
    from torch.utils.data import DataLoader

    with pytest.raises(SystemExit) as e:
        with exit_on_user_error():
            next(iter(DataLoader(_BrokenImages(), batch_size=2, num_workers=1)))
    assert str(e.value) == "error: cannot read image /data/img0.jpg: truncated; fix or remove the file"


def test_a_user_error_from_a_spawned_process_is_one_line():
    text = ("\n\n-- Process 1 terminated with the following error:\nTraceback (most recent call last):\n"
            '  File "x.py", line 1, in f\nfastreid.config.config.ConfigError: SOLVER.OPT: \'Adamm\' is not an '
            "optimizer; expected one of SGD, Adam\n")
    with pytest.raises(SystemExit, match=r"^error: SOLVER.OPT: 'Adamm' is not an optimizer; expected one of SGD, Adam$"):
        with exit_on_user_error():
            raise RuntimeError(text)
    with pytest.raises(RuntimeError):  # a bug in another process keeps its traceback
        with exit_on_user_error():
            raise RuntimeError(text.replace("fastreid.config.config.ConfigError", "ZeroDivisionError"))
