"""Checkpointer: atomic writes, last_checkpoint, DDP prefix, key reports, strict loading, RNG resume."""

import logging
import random

import numpy as np
import pytest
import torch
import torch.nn as nn

from fastreid.utils import checkpoint as ckpt_mod
from fastreid.utils.checkpoint import Checkpointer, CheckpointError, load_matching


def _net(out=3):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, out))


def test_failed_save_keeps_the_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    model = _net()
    ck = Checkpointer(model, str(tmp_path))
    ck.save("model_0000", epoch=0)
    old = (tmp_path / "model_0000.pth").read_bytes()
    real_save = torch.save

    def crash_midway(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        f.truncate(10)  # half-written file
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_mod.torch, "save", crash_midway)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        ck.save("model_0000", epoch=1)
    assert (tmp_path / "model_0000.pth").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last_checkpoint", "model_0000.pth"]
    monkeypatch.undo()
    assert torch.load(tmp_path / "model_0000.pth", weights_only=False)["epoch"] == 0


def test_last_checkpoint_names_the_newest_file(tmp_path):
    ck = Checkpointer(_net(), str(tmp_path))
    ck.save("model_0000")
    ck.save("model_best", tag_last=False)
    ck.save("model_0001")
    assert ck.get_checkpoint_file() == str(tmp_path / "model_0001.pth")


def test_module_prefix_is_stripped_on_load(tmp_path):
    src = _net()
    torch.save({"model": {f"module.{k}": v for k, v in src.state_dict().items()}}, tmp_path / "ddp.pth")
    dst = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    Checkpointer(dst).load(str(tmp_path / "ddp.pth"), strict=True)
    assert torch.equal(dst[2].weight, src[2].weight)


def test_non_strict_load_reports_missing_unexpected_and_mismatched(tmp_path, caplog):
    src = _net(out=3)
    state = src.state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["0.bias"]
    torch.save({"model": state}, tmp_path / "a.pth")
    dst = _net(out=7)
    init_cls = dst[2].weight.clone()
    with caplog.at_level(logging.WARNING, logger="fastreid.utils.checkpoint"):
        Checkpointer(dst).load(str(tmp_path / "a.pth"))
    text = caplog.text
    assert "missing keys" in text and "0.bias" in text
    assert "unexpected keys" in text and "extra.weight" in text
    assert "2.weight: checkpoint (3, 5) vs model (7, 5)" in text
    assert torch.equal(dst[2].weight, init_cls)  # mismatched tensor skipped
    assert torch.equal(dst[0].weight, src[0].weight)


def test_load_matching_loads_what_fits_and_counts_the_rest():
    """The one non-strict rule of the checkpoint and ImageNet loaders, on its own."""
    model = _net(out=3)  # 0: Linear(4, 5), 2: Linear(5, 3): four tensors
    kept = model[2].weight.clone()
    state = {"module.0.weight": torch.ones(5, 4), "module.2.weight": torch.zeros(7, 5), "module.9.bias": torch.zeros(1)}
    report = load_matching(model, state)
    assert torch.equal(model[0].weight, torch.ones(5, 4)) and torch.equal(model[2].weight, kept)
    assert (report.missing, report.unexpected, report.mismatched) == (["0.bias", "2.bias"], ["9.bias"], ["2.weight"])
    assert report.shapes == {"2.weight": ((7, 5), (3, 5))}
    assert (report.loaded, report.total) == (1, 4)


def test_strict_load_raises_with_the_key_list(tmp_path):
    torch.save({"model": _net(out=3).state_dict()}, tmp_path / "a.pth")
    with pytest.raises(CheckpointError) as e:
        Checkpointer(_net(out=7)).load(str(tmp_path / "a.pth"), strict=True)
    assert "2.weight" in str(e.value) and "2.bias" in str(e.value) and "strict" in str(e.value)


def test_resume_restores_optimizer_extras_and_rng(tmp_path):
    model = _net()
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    ck = Checkpointer(model, str(tmp_path), optimizer=opt)
    ck.save("model_0004", epoch=4, best_metric=12.5)
    draws = (random.random(), np.random.rand(), torch.rand(1).item())

    model2 = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    opt2 = torch.optim.Adam(model2.parameters(), lr=0.5)
    extra = Checkpointer(model2, str(tmp_path), optimizer=opt2).resume_or_load("", resume=True)
    assert (extra["epoch"], extra["best_metric"]) == (4, 12.5)
    assert opt2.param_groups[0]["lr"] == 0.1
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == draws


def test_load_of_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        Checkpointer(_net()).load(str(tmp_path / "nope.pth"))


def test_a_strict_mismatch_names_counts_and_the_first_keys_only(tmp_path):
    import torch.nn as nn

    big = nn.Sequential(*[nn.Linear(4, 4) for _ in range(40)])
    torch.save({"model": {}}, tmp_path / "empty.pth")
    with pytest.raises(CheckpointError) as e:
        Checkpointer(big).load(str(tmp_path / "empty.pth"), strict=True)
    msg = str(e.value)
    assert "missing keys (80, kept at init): 0.weight, 0.bias, 1.weight, 1.bias, 2.weight, ... (75 more)" in msg
    assert len(msg) < 400


def test_an_object_added_to_the_checkpointer_is_saved_and_restored(tmp_path):
    class Counter:
        def __init__(self, n=0):
            self.n = n

        def state_dict(self):
            return {"n": self.n}

        def load_state_dict(self, state):
            self.n = state["n"]

    saver = Checkpointer(nn.Linear(2, 2), str(tmp_path))
    saver.add("counter", Counter(7))
    path = saver.save("model_0000")
    loader = Checkpointer(nn.Linear(2, 2), str(tmp_path))
    restored = Counter()
    loader.add("counter", restored)
    loader.load(path)
    assert restored.n == 7
    with pytest.raises(ValueError, match="'counter' is already saved"):
        loader.add("counter", Counter())
    with pytest.raises(TypeError, match="'bad' is a int; expected an object with state_dict"):
        loader.add("bad", 3)


@pytest.mark.parametrize("layout", ["toolbox", "authors", "bare", "ddp"])
def test_one_rule_finds_the_state_dict_in_every_layout(layout):
    from fastreid.utils.checkpoint import split_state_dict

    weights = {"a.weight": torch.ones(2), "b.bias": torch.zeros(1)}
    data = {"toolbox": {"model": weights, "epoch": 3}, "authors": {"state_dict": weights, "epoch": 3},
            "bare": dict(weights), "ddp": {"model": {"module." + k: v for k, v in weights.items()}, "epoch": 3}}[layout]
    state, rest = split_state_dict(data)
    assert list(state) == ["a.weight", "b.bias"]
    assert rest == ({} if layout == "bare" else {"epoch": 3})
    with pytest.raises(CheckpointError, match="x.pth: holds a list; expected a dict"):
        split_state_dict([1, 2], "x.pth")
