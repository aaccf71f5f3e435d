"""Checkpoints are read with weights_only=True: a crafted file cannot run code, bad files fail in one line."""

import os

import numpy as np
import pytest
import torch

from fastreid.utils.checkpoint import Checkpointer, CheckpointError, load_torch_file


class _Payload:
    """Unpickling this runs ``os.system`` (what a crafted checkpoint would do)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_does_not_run_code_and_names_the_object(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "x": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pth holds the Python object .*system.*could run code") as e:
        load_torch_file(str(path))
    assert not marker.exists()
    assert "\n" not in str(e.value)
    with pytest.raises(CheckpointError):  # the trainer's loader goes through the same gate
        Checkpointer(torch.nn.Linear(1, 1)).load(str(path))
    assert not marker.exists()


@pytest.mark.parametrize("content, expected", [
    (b"", "is empty"),
    (b"this is a text file\n", "not a PyTorch checkpoint"),
])
def test_empty_and_text_files_fail_with_one_line(tmp_path, content, expected):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=expected) as e:
        load_torch_file(str(path), "MODEL.WEIGHTS")
    assert "MODEL.WEIGHTS" in str(e.value) and "\n" not in str(e.value)


def test_truncated_checkpoint_fails_with_one_line(tmp_path):
    path = tmp_path / "model.pth"
    torch.save({"model": {"w": torch.randn(256, 256)}}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or not a PyTorch checkpoint") as e:
        load_torch_file(str(path))
    assert "\n" not in str(e.value)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_torch_file(str(tmp_path / "missing.pth"))


def test_numpy_data_and_training_state_still_load(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    ckpt = Checkpointer(model, str(tmp_path), optimizer=opt)
    ckpt.save("model_0000", epoch=0, best_metric=np.float64(12.5))  # numpy RNG state is inside too
    extra = Checkpointer(torch.nn.Linear(3, 2), str(tmp_path), optimizer=torch.optim.SGD(
        torch.nn.Linear(3, 2).parameters(), lr=0.1, momentum=0.9)).load(
        str(tmp_path / "model_0000.pth"), checkpointables=[], restore_rng=True)
    assert extra["epoch"] == 0 and float(extra["best_metric"]) == 12.5


def test_atomic_open_keeps_the_old_file_when_the_write_fails(tmp_path):
    from fastreid.utils.file_io import atomic_open

    path = tmp_path / "results.json"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(str(path)) as f:
            f.write("half of the new")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]
    with atomic_open(str(path)) as f:
        f.write("new")
    assert path.read_text() == "new"
