"""The search parts in isolation: architecture and weight steps, when alpha steps, memory refresh,
genotype export and plot."""

import json
import types

import pytest
import torch
import torch.nn.functional as F
import yaml

from fastreid.config import get_cfg
from fastreid.data.epoch_batches import EpochBatches
from fastreid.solver import build_optimizer
from fastreid.utils.events import EventStorage
from msinet.genotypes import resolve_genotype
from msinet.interaction import OP_NAMES
from msinet.memory import TwinMemory
from msinet.search_hooks import GenotypeLogger, MemoryRefresh
from msinet.search_model import SearchBaseline
from msinet.search_objectives import ContrastiveObjective
from msinet.search_step import ArchitectStep, SearchStep
from msinet.supernet import MSISupernet

torch.set_num_threads(1)


def _model():
    torch.manual_seed(0)
    net = SearchBaseline(MSISupernet(channels=(8, 16, 24, 32)))
    for name, p in net.named_parameters():
        if name.endswith("gamma"):
            p.data.fill_(0.1)
    return net.train()


def _batch(seed, n=4, classes=2):
    g = torch.Generator().manual_seed(seed)
    return {"images": torch.rand(n, 3, 32, 16, generator=g) * 255, "targets": torch.arange(n) % classes}


def _memory(classes=2, dim=32):
    mem = TwinMemory(classes, dim)
    mem.initialize(F.normalize(torch.randn(classes, dim, generator=torch.Generator().manual_seed(1)), dim=1))
    return mem


def _weights(model):
    return {k: v.detach().clone() for k, v in model.named_parameters() if k != "backbone.alpha"}


def test_arch_step_changes_alpha_and_valid_memory_only():
    model = _model()
    valid_mem = _memory()
    arch_opt = torch.optim.Adam(model.arch_parameters(), lr=0.01, betas=(0.5, 0.999), weight_decay=1e-3)
    hook = ArchitectStep(model, arch_opt, ContrastiveObjective(valid_mem))
    before_w, before_a, before_m = _weights(model), model.backbone.alpha.detach().clone(), valid_mem.slots.clone()
    hook.step(_batch(1))
    assert not torch.equal(model.backbone.alpha, before_a)
    for k, v in _weights(model).items():
        assert torch.equal(v, before_w[k]), k
    assert not torch.equal(valid_mem.slots, before_m)
    # backpropagation stopped at alpha: no weight gradient was even computed
    assert all(p.grad is None for n, p in model.named_parameters() if n != "backbone.alpha")


def test_weight_step_leaves_alpha_unchanged():
    model = _model()
    cfg = get_cfg(plugins=True)
    cfg.SOLVER.OPT = "SGD"
    cfg.SOLVER.BASE_LR = 0.025
    opt = build_optimizer(cfg, model)
    assert all(p is not model.backbone.alpha for g in opt.param_groups for p in g["params"])
    train_mem = _memory()
    objective = ContrastiveObjective(train_mem)
    before_w, before_a = _weights(model), model.backbone.alpha.detach().clone()
    batch = _batch(2)
    out = model(batch)
    loss = objective.loss(out, batch["targets"])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    assert model.backbone.alpha.grad is not None  # alpha sees a gradient but is not stepped
    opt.step()
    assert torch.equal(model.backbone.alpha, before_a)
    assert any(not torch.equal(v, before_w[k]) for k, v in _weights(model).items())


@pytest.mark.parametrize("start_iter, skip_epoch_start, expected", [
    (1, False, [False, True, True, True]),   # the paper's loop: every iteration from the second
    (1, True, [False, True, False, True]),   # the authors' loop: not at the first iteration of an epoch
])
def test_the_search_step_draws_a_valid_batch_every_iteration_and_steps_alpha_when_due(start_iter, skip_epoch_start,
                                                                                    expected):
    model = _model()
    drawn = []

    class Loader:
        def __iter__(self):
            for i in range(100):
                drawn.append(i)
                yield _batch(i)

    arch_opt = torch.optim.Adam(model.arch_parameters(), lr=0.01)
    weights = torch.optim.SGD([p for n, p in model.named_parameters() if n != "backbone.alpha"], lr=0.01)
    step = SearchStep(model, [_batch(50 + i) for i in range(4)], weights, ContrastiveObjective(_memory()),
                      ArchitectStep(model, arch_opt, ContrastiveObjective(_memory())), EpochBatches(Loader()),
                      start_iter=start_iter, skip_epoch_start=skip_epoch_start)
    step.iters_per_epoch = 2
    moved = []
    with EventStorage(0) as step.storage:
        for it in range(4):
            step.iter, step.epoch = it, it // 2
            before = model.backbone.alpha.detach().clone()
            step.run_step()
            moved.append(not torch.equal(model.backbone.alpha, before))
    assert moved == expected
    assert drawn == [0, 1, 2, 3]  # drawn whether used or not: the valid stream never depends on the protocol


def test_the_authors_step_keeps_the_validation_gradient_in_the_weights():
    model = _model()
    arch_opt = torch.optim.Adam(model.arch_parameters(), lr=0.01)
    weights = torch.optim.SGD([p for n, p in model.named_parameters() if n != "backbone.alpha"], lr=0.01)
    architect = ArchitectStep(model, arch_opt, ContrastiveObjective(_memory()), weight_optimizer=weights)
    architect.step(_batch(1))
    grads = [p.grad for n, p in model.named_parameters() if n != "backbone.alpha"]
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in grads) > len(grads) // 2


def test_memory_refresh_sets_centroids_of_each_split_under_the_current_model():
    model = _model()
    splits = {"train": [_batch(3, 6, 3)], "valid": [_batch(4, 4, 2)]}
    mems = {"train": TwinMemory(3, 32), "valid": TwinMemory(2, 32)}
    hook = MemoryRefresh(model, mems, {k: (lambda v=v: v) for k, v in splits.items()}, "centroid", period=2)
    hook.trainer = types.SimpleNamespace(start_iter=0, epoch=0)
    hook.before_train()
    assert model.training  # restored after the eval-mode feature pass
    model.eval()
    with torch.no_grad():
        for name, mem in mems.items():
            feats = F.normalize(model(splits[name][0]["images"]), dim=1)
            labels = splits[name][0]["targets"]
            for c in range(mem.num_classes):
                mean = feats[labels == c].mean(0)
                torch.testing.assert_close(mem.slots[c], mean / mean.norm(), rtol=1e-4, atol=1e-5)
    # refresh only every `period` epochs, never on a resumed start
    for m in mems.values():
        m.reset()
    hook.trainer.epoch = 1
    hook.before_epoch()
    assert mems["train"].slots.abs().sum() == 0
    hook.trainer.epoch = 2
    hook.before_epoch()
    assert mems["train"].slots.abs().sum() > 0
    for m in mems.values():
        m.reset()
    hook.trainer = types.SimpleNamespace(start_iter=10, epoch=3)
    hook.before_train()
    assert mems["valid"].slots.abs().sum() == 0


def test_zero_init_leaves_memories_empty():
    mems = {"train": _memory(), "valid": _memory()}
    hook = MemoryRefresh(_model(), mems, {}, "zero")
    hook.trainer = types.SimpleNamespace(start_iter=0, epoch=0)
    hook.before_train()
    assert all(m.slots.abs().sum() == 0 for m in mems.values())
    with pytest.raises(ValueError, match="centroid or zero"):
        MemoryRefresh(_model(), mems, {}, "mean")


def test_genotype_logger_writes_a_genotype_yaml_msinet_accepts_plus_alpha_history(tmp_path):
    model = _model()
    logger_hook = GenotypeLogger(model, OP_NAMES, str(tmp_path), period=1)
    logger_hook.trainer = types.SimpleNamespace(epoch=0, iters_per_epoch=1, max_iter=2, iter=1, start_iter=0)
    logger_hook.before_train()
    logger_hook.after_epoch()
    picks = [1, 1, 3, 1, 2, 1, 1, 0, 1, 2, 3, 2]
    model.backbone.alpha.data = 5.0 * F.one_hot(torch.tensor(picks), 4).float()
    logger_hook.trainer.epoch, logger_hook.trainer.iter = 1, 2
    logger_hook.after_epoch()
    logger_hook.after_train()
    expected = [OP_NAMES[i] for i in picks]
    path = tmp_path / "genotype.yaml"
    assert yaml.safe_load(path.read_text()) == {"MODEL": {"MSINET": {"GENOTYPE": expected}}}
    assert resolve_genotype(str(path)) == expected
    data = json.loads((tmp_path / "alphas.json").read_text())
    assert data["epochs"] == [0, 1, 2] and data["ops"] == list(OP_NAMES) and data["genotype"] == expected
    torch.testing.assert_close(torch.tensor(data["softmax_alpha"][2]), torch.softmax(model.backbone.alpha, -1))
    assert (tmp_path / "alphas.png").stat().st_size > 1000
    # the history survives a checkpoint round trip
    other = GenotypeLogger(model, OP_NAMES, str(tmp_path))
    other.load_state_dict(logger_hook.state_dict())
    assert other.epochs == [0, 1, 2] and other.history == logger_hook.history


def test_alphas_json_keeps_the_genotype_before_the_last_epoch_beside_the_final_one(tmp_path):
    model = _model()
    hook = GenotypeLogger(model, OP_NAMES, str(tmp_path), period=1)
    hook.trainer = types.SimpleNamespace(epoch=0, iters_per_epoch=1, max_iter=3, iter=0, start_iter=0)
    hook.before_train()
    picks = {1: [0] * 12, 2: [1] * 6 + [3] * 6, 3: [2] * 12}  # the argmax after epochs 1, 2 and 3
    for epoch, ops in picks.items():
        model.backbone.alpha.data = 5.0 * F.one_hot(torch.tensor(ops), 4).float()
        hook.trainer.epoch, hook.trainer.iter = epoch - 1, epoch
        hook.after_epoch()
    hook.after_train()
    data = json.loads((tmp_path / "alphas.json").read_text())
    assert data["genotype"] == [OP_NAMES[2]] * 12  # after the last epoch: what genotype.yaml holds
    assert data["genotype_before_last_epoch"] == [OP_NAMES[1]] * 6 + [OP_NAMES[3]] * 6  # the authors' last print
    assert yaml.safe_load((tmp_path / "genotype.yaml").read_text())["MODEL"]["MSINET"]["GENOTYPE"] == data["genotype"]


def test_interrupted_search_writes_no_genotype(tmp_path):
    hook = GenotypeLogger(_model(), OP_NAMES, str(tmp_path))
    hook.trainer = types.SimpleNamespace(epoch=0, iters_per_epoch=1, max_iter=4, iter=1)
    hook.after_epoch()
    hook.after_train()
    assert not (tmp_path / "genotype.yaml").exists()
