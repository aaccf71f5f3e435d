"""fastreid.utils.file_io: a target is replaced whole or not at all, by a file object or a file name."""

import os
import stat

import pytest

from fastreid.utils.file_io import atomic_open, atomic_path


def test_atomic_path_replaces_the_target_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "plot.png"
    target.write_bytes(b"old")
    with atomic_path(str(target), suffix=".tmp.png") as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith(".tmp.png") and target.read_bytes() == b"old"
        with open(tmp, "wb") as f:  # the writer opens the name itself, as savefig does
            f.write(b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["plot.png"]
    with pytest.raises(ValueError, match="check failed"):
        with atomic_path(str(target)) as tmp:
            open(tmp, "wb").close()
            raise ValueError("check failed")  # e.g. an exported graph that does not verify
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["plot.png"]


def test_atomic_open_writes_into_a_new_folder_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "results.md"
    with atomic_open(str(target)) as f:
        f.write("| a |\n")
    assert target.read_text() == "| a |\n" and os.listdir(target.parent) == ["results.md"]
    with pytest.raises(ValueError, match="mode 'a'"):
        with atomic_open(str(target), "a"):
            pass


def test_atomic_writes_get_the_mode_a_plain_open_gives(tmp_path):
    # mkstemp creates 0600 files: a checkpoint or a table would then be unreadable to the user's group
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with atomic_open(str(tmp_path / "atomic.txt")) as f:
        f.write("x")
    with atomic_path(str(tmp_path / "atomic.bin")) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"x")
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(tmp_path / "atomic.txt") == mode(plain) == mode(tmp_path / "atomic.bin")
