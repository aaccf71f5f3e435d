"""SearchTrainer on the generated SyntheticReID dataset: split wiring, step order, export, resume, DDP."""

import json
import os

import pytest
import torch
import yaml

from fastreid.config import get_cfg
from fastreid.engine import hooks as engine_hooks
from fastreid.engine.launch import launch
from fastreid.modeling.meta_arch.build import build_model
from msinet.config import add_msinet_config
from msinet.search_trainer import SearchTrainer, search_splits

torch.set_num_threads(1)


class QuietSearchTrainer(SearchTrainer):
    """The search without the final test-set evaluation (not under test here; keeps tests fast)."""

    @classmethod
    def test(cls, cfg, model):
        return {}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    from fastreid.data import build_dataset

    cfg = get_cfg(plugins=True)
    cfg.DATASETS.ROOT = str(root)
    build_dataset(cfg, "SyntheticReID", verbose=False)  # generated once for the module
    return str(root)


def make_cfg(root, out, *opts):
    cfg = get_cfg(plugins=True)
    add_msinet_config(cfg)
    cfg.merge_from_list([
        "MODEL.META_ARCHITECTURE", "SearchBaseline", "MODEL.BACKBONE.NAME", "msinet_supernet",
        "MODEL.MSINET.CHANNELS", "[8, 32, 48, 64]", "MODEL.DEVICE", "cpu", "SEARCH.ENABLED", "True",
        "DATASETS.NAMES", "('SyntheticReID',)", "DATASETS.TESTS", "('SyntheticReID',)", "DATASETS.ROOT", root,
        "INPUT.SIZE_TRAIN", "[32, 16]", "INPUT.SIZE_TEST", "[32, 16]", "SOLVER.OPT", "SGD",
        "SOLVER.BASE_LR", "0.025", "SOLVER.MAX_EPOCH", "2", "SOLVER.ITERS_PER_EPOCH", "2",
        "SOLVER.IMS_PER_BATCH", "8", "SOLVER.STEPS", "[1]", "SOLVER.CHECKPOINT_PERIOD", "1",
        "SOLVER.LOG_PERIOD", "100", "TEST.EVAL_PERIOD", "0", "TEST.IMS_PER_BATCH", "64",
        "DATALOADER.NUM_WORKERS", "0", "SEED", "3", "OUTPUT_DIR", str(out), "SEARCH.GENOTYPE_PERIOD", "1",
        *opts,
    ])
    return cfg


def test_split_ratios_follow_the_search_keys(data_root, tmp_path):
    train, valid, *_ = search_splits(make_cfg(data_root, tmp_path))
    assert len({t[1] for t in train}) == 36 and len({v[1] for v in valid}) == 48  # 60 % / 80 % of 60 ids
    assert not {t[0] for t in train} & {v[0] for v in valid}  # overlap identities: images halved
    train, valid, *_ = search_splits(make_cfg(data_root, tmp_path, "SEARCH.TRAIN_RATIO", "0.5",
                                          "SEARCH.VALID_RATIO", "0.5"))
    assert len({t[1] for t in train}) == 30 and len({v[1] for v in valid}) == 30
    assert len(train) + len(valid) == 712
    train, valid, *_ = search_splits(make_cfg(data_root, tmp_path, "SEARCH.TRAIN_RATIO", "1.0",
                                          "SEARCH.VALID_RATIO", "1.0"))
    # "overlap" schemes: the same identities on both sides, each identity's images divided (the paper)
    assert {t[1] for t in train} == {v[1] for v in valid} and not {t[0] for t in train} & {v[0] for v in valid}
    assert len(train) + len(valid) == 712
    train, valid, *_ = search_splits(make_cfg(data_root, tmp_path, "SEARCH.PROTOCOL", "authors"))
    assert len({t[1] for t in train}) == 36 and len({v[1] for v in valid}) == 48  # 60 // 5 = 12: 36, 48


def test_a_split_part_keeps_its_labels_and_counts_its_empty_classes(tmp_path):
    from PIL import Image

    from msinet.search_trainer import SplitDataset

    items = [(str(tmp_path / f"{n}.jpg"), label, "c1") for n, label in (("a", 0), ("b", 1), ("c", 3))]
    for path, _, _ in items:
        Image.new("RGB", (8, 16)).save(path)
    part = SplitDataset(items, None, num_classes=4)  # class 2 has no image: the authors' empty train slot
    assert [part[i]["targets"] for i in range(3)] == [0, 1, 3] and part.num_classes == 4


def test_the_authors_epochs_need_an_identity_sampler_with_passes():
    import types

    from fastreid.data.samplers import TrainingSampler
    from fastreid.utils.errors import ConfigValueError

    cfg = get_cfg(plugins=True)
    add_msinet_config(cfg)
    cfg.merge_from_list(["SEARCH.PROTOCOL", "authors", "SOLVER.MAX_EPOCH", "2"])
    loader = types.SimpleNamespace(batch_sampler=types.SimpleNamespace(sampler=TrainingSampler(10, seed=0)))
    with pytest.raises(ConfigValueError, match="an epoch is one pass of the identity sampler, and TrainingSampler "
                                               "has no passes; expected DATALOADER.SAMPLER_TRAIN"):
        SearchTrainer._iters_per_epoch(cfg, loader)


def _params(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def test_each_iteration_steps_alpha_on_valid_then_weights_on_train(data_root, tmp_path):
    cfg = make_cfg(data_root, tmp_path, "SOLVER.MAX_EPOCH", "1", "SEARCH.MEMORY_INIT", "zero")
    trainer = QuietSearchTrainer(cfg)
    seen = {}
    alpha_key = "backbone.alpha"
    architect = trainer.train_step.architect
    original = architect.step

    def recorded(batch):
        seen["start"] = _params(trainer.model)
        loss = original(batch)
        seen["after_arch"] = _params(trainer.model)
        return loss

    def after_weight(t):
        if t.iter != 1:
            return
        start, mid, end = seen["start"], seen["after_arch"], _params(t.model)
        assert not torch.equal(mid[alpha_key], start[alpha_key])  # the arch step moved alpha ...
        assert all(torch.equal(mid[k], start[k]) for k in start if k != alpha_key)  # ... and no weight
        assert torch.equal(end[alpha_key], mid[alpha_key])  # the weight step left alpha alone ...
        assert any(not torch.equal(end[k], mid[k]) for k in mid if k != alpha_key)  # ... and moved weights
        seen["checked"] = True

    architect.step = recorded
    trainer.register_hooks([engine_hooks.CallbackHook(after_step=after_weight)])
    trainer.train()
    assert seen.get("checked")


def test_search_writes_a_genotype_that_msinet_training_builds(data_root, tmp_path):
    out = tmp_path / "search"
    trainer = QuietSearchTrainer(make_cfg(data_root, out))
    memory = trainer.train_objective.memory
    trainer.train()
    genotype = trainer.model.genotype()
    assert yaml.safe_load((out / "genotype.yaml").read_text()) == {"MODEL": {"MSINET": {"GENOTYPE": genotype}}}
    history = json.loads((out / "alphas.json").read_text())
    assert history["epochs"] == [0, 1, 2] and len(history["softmax_alpha"][0]) == 12
    assert (out / "alphas.png").is_file()
    assert torch.allclose(memory.slots.norm(dim=1), torch.ones(memory.num_classes), atol=1e-5)
    # the file works both as MODEL.MSINET.GENOTYPE and as _BASE_ of a training config
    for how in ("value", "base"):
        cfg = get_cfg(plugins=True)
        add_msinet_config(cfg)
        if how == "value":
            cfg.merge_from_list(["MODEL.MSINET.GENOTYPE", str(out / "genotype.yaml")])
        else:
            child = tmp_path / "train.yml"
            child.write_text(f"_BASE_: {out / 'genotype.yaml'}\nMODEL:\n  BACKBONE:\n    NAME: msinet\n")
            cfg.merge_from_file(str(child))
        cfg.merge_from_list(["MODEL.BACKBONE.NAME", "msinet", "MODEL.DEVICE", "cpu", "MODEL.HEADS.NUM_CLASSES", "5"])
        assert build_model(cfg).backbone.genotype == genotype


def test_softmax_scheme_trains_one_classifier_on_both_splits(data_root, tmp_path):
    cfg = make_cfg(data_root, tmp_path, "SEARCH.SCHEME", "softmax", "SEARCH.TRAIN_RATIO", "1.0",
                   "SEARCH.VALID_RATIO", "1.0", "SOLVER.MAX_EPOCH", "1")
    trainer = QuietSearchTrainer(cfg)
    assert trainer.model.heads.classifier.out_features == 60
    assert trainer.train_objective.memory is None
    # identical splits, yet the arch step and the weight step draw different batches
    loaders = (trainer.data_loader, trainer.valid_loader)
    for loader in loaders:
        loader.set_epoch(0)
    assert next(iter(loaders[0]))["img_paths"] != next(iter(loaders[1]))["img_paths"]
    before = trainer.model.backbone.alpha.detach().clone()
    trainer.train()
    assert not torch.equal(trainer.model.backbone.alpha, before)
    with pytest.raises(ValueError, match="TRAIN_RATIO = SEARCH.VALID_RATIO = 1.0"):
        QuietSearchTrainer(make_cfg(data_root, tmp_path, "SEARCH.SCHEME", "softmax"))


class _Stop(Exception):
    pass


def _state(trainer):
    return {
        "model": {k: v.clone() for k, v in trainer.model.state_dict().items()},
        "train_memory": trainer.train_objective.memory.slots.clone(),
        "valid_memory": trainer.valid_objective.memory.slots.clone(),
        "arch_opt": trainer.arch_optimizer.state_dict()["state"][0]["exp_avg"].clone(),
        "weight_lr": trainer.optimizer.param_groups[0]["lr"],
        "arch_lr": trainer.arch_optimizer.param_groups[0]["lr"],
    }


@pytest.mark.parametrize("protocol", ["paper", "authors"])
def test_stopped_search_resumes_exactly(data_root, tmp_path, protocol):
    # "authors": the valid stream runs through the epochs, so the resumed run continues it mid-stream;
    # the warm-up (one epoch) steps per epoch
    opts = ["SEARCH.PROTOCOL", protocol, "SOLVER.WARMUP_EPOCHS", "1"]
    straight = QuietSearchTrainer(make_cfg(data_root, tmp_path / "a", *opts))
    straight.train()
    expected = _state(straight)

    first = QuietSearchTrainer(make_cfg(data_root, tmp_path / "b", *opts))

    def stop(t):
        if t.epoch == 0:
            raise _Stop()

    first.register_hooks([engine_hooks.CallbackHook(after_epoch=stop)])
    with pytest.raises(_Stop):
        first.train()
    assert not (tmp_path / "b" / "genotype.yaml").exists()

    resumed = QuietSearchTrainer(make_cfg(data_root, tmp_path / "b", *opts))
    resumed.resume_or_load(resume=True)
    assert resumed.start_epoch == 1
    resumed.train()
    got = _state(resumed)
    for k, v in expected["model"].items():
        torch.testing.assert_close(got["model"][k], v, rtol=0, atol=0, msg=k)
    for k in ("train_memory", "valid_memory", "arch_opt"):
        torch.testing.assert_close(got[k], expected[k], rtol=0, atol=0, msg=k)
    assert got["weight_lr"] == expected["weight_lr"] and got["arch_lr"] == expected["arch_lr"]
    a = json.loads((tmp_path / "a" / "alphas.json").read_text())
    b = json.loads((tmp_path / "b" / "alphas.json").read_text())
    assert a == b


def _ddp_worker(root, out):
    torch.set_num_threads(1)
    from fastreid.utils import comm

    # this process's stderr (C++ aborts included) to a file the test shows if a process dies
    err = os.open(os.path.join(out, f"rank{comm.get_rank()}.stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(err, 2)

    trainer = QuietSearchTrainer(make_cfg(root, out, "SOLVER.MAX_EPOCH", "1", "SOLVER.IMS_PER_BATCH", "16"))
    trainer.train()
    net = trainer.model.module
    state = {
        "alpha": net.backbone.alpha.detach().tolist(),
        "train_memory": trainer.train_objective.memory.slots.tolist(),
        "valid_memory": trainer.valid_objective.memory.slots.tolist(),
        "weights": [float(p.detach().double().sum()) for p in net.parameters()],
    }
    states = comm.all_gather(state)
    if comm.is_main_process():
        with open(os.path.join(out, "ranks.json"), "w") as f:
            json.dump(states, f)


def test_ddp_keeps_alphas_memories_and_weights_identical_on_every_rank(data_root, tmp_path):
    try:
        launch(_ddp_worker, 2, args=(data_root, str(tmp_path)))
    except Exception as e:
        tails = {p.name: p.read_text()[-3000:] for p in sorted(tmp_path.glob("rank*.stderr"))}
        raise AssertionError(f"a DDP process failed: {e}; their stderr: {tails}") from e
    r0, r1 = json.loads((tmp_path / "ranks.json").read_text())
    assert r0 == r1
    assert torch.tensor(r0["train_memory"]).abs().sum() > 0
    assert (tmp_path / "genotype.yaml").is_file()


def _recording(batches, log):
    """Wrap an EpochBatches so that every batch it hands out is also appended to ``log``."""
    original = batches.next

    def next_batch(*args, **kwargs):
        batch = original(*args, **kwargs)
        log.append(batch)
        return batch

    batches.next = next_batch


def _authors_reference_parts(cfg, initial_state):
    """Model (from ``initial_state``), weight SGD, alpha's Adam and zero memories for the reference loop."""
    from msinet.memory import TwinMemory

    model = build_model(cfg)
    model.load_state_dict(initial_state)
    model.train()
    weights = SearchTrainer.build_optimizer(cfg, model)
    s = cfg.SEARCH
    alpha = torch.optim.Adam(model.arch_parameters(), lr=s.ARCH_LR, betas=tuple(s.ARCH_BETAS),
                             weight_decay=s.ARCH_WEIGHT_DECAY)
    num = {k: len({it[1] for it in items}) for k, items in zip(("train", "valid"), search_splits(cfg)[:2])}
    memories = {k: TwinMemory(n, model.feat_dim, temperature=s.TEMPERATURE, momentum=s.MEMORY_MOMENTUM)
                for k, n in num.items()}
    return model, weights, alpha, memories


def _authors_lr(base, epoch, warmup_epochs, factor, steps):
    """The authors' weight schedule, written from its description (msinet-facts.md): a per-epoch scheduler
    stepped at each epoch's end, so epoch ``e`` of the warm-up runs at ``factor + (1 - factor) * e / W``
    of the base rate, then 10x decays at the epochs of ``steps``."""
    warm = factor + (1 - factor) * epoch / warmup_epochs if epoch < warmup_epochs else 1.0
    return base * warm * 0.1 ** sum(1 for s in steps if s <= epoch)


def _one_pass_each(train_items, epochs_of_batches, k, p):
    """Each epoch's training batches are one pass of the identity sampler: no image twice (identities
    with at least K images) and, at the end, fewer than P identities with K images left to fill a batch."""
    sizes = {}
    for _, pid, _ in train_items:
        sizes[pid] = sizes.get(pid, 0) + 1
    for batches in epochs_of_batches:
        paths = [path for b in batches for path, t in zip(b["img_paths"], b["targets"].tolist()) if sizes[t] >= k]
        assert len(paths) == len(set(paths))
        used = {}
        for b in batches:
            for t in b["targets"].tolist():
                used[t] = used.get(t, 0) + 1
        assert sum(1 for pid, n in sizes.items() if max(n, k) - used.get(pid, 0) >= k) < p


@pytest.mark.slow
def test_the_authors_protocol_runs_the_authors_loop(data_root, tmp_path):
    # several epochs of one identity-sampler pass each (batch 16 = 4 identities x 4 images), with the
    # warm-up (2 epochs from 0.01) and the weights' and alpha's step schedules on
    opts = ["SEARCH.PROTOCOL", "authors", "SEARCH.MEMORY_INIT", "zero", "SOLVER.ITERS_PER_EPOCH", "0",
            "SOLVER.IMS_PER_BATCH", "16", "SOLVER.MAX_EPOCH", "4", "SOLVER.WARMUP_EPOCHS", "2",
            "SOLVER.WARMUP_FACTOR", "0.01", "SOLVER.WARMUP_METHOD", "linear", "SOLVER.STEPS", "[3]",
            "SEARCH.ARCH_STEPS", "[2]", "SEARCH.ARCH_LR", "0.05", "SOLVER.CHECKPOINT_PERIOD", "10"]
    cfg = make_cfg(data_root, tmp_path / "trainer", *opts)
    trainer = QuietSearchTrainer(cfg)
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    train_log, valid_log, seen = [], [], []
    _recording(trainer.train_step._batches, train_log)
    _recording(trainer.train_step.valid_batches, valid_log)
    trainer.register_hooks([engine_hooks.CallbackHook(before_step=lambda t: seen.append((
        t.epoch, [g["lr"] for g in t.optimizer.param_groups], t.arch_optimizer.param_groups[0]["lr"])))])
    trainer.train()
    epochs = [e for e, _, _ in seen]
    lengths = [epochs.count(e) for e in range(4)]
    assert len(train_log) == len(valid_log) == len(seen) == sum(lengths)  # a valid batch every iteration
    bounds = [sum(lengths[:e]) for e in range(5)]
    _one_pass_each(trainer.split_items["train"], [train_log[bounds[e]:bounds[e + 1]] for e in range(4)], k=4, p=4)

    # the learning rates of every iteration, against the authors' rules
    for it, (epoch, weight_lrs, arch_lr) in enumerate(seen):
        assert weight_lrs == pytest.approx([_authors_lr(0.025, epoch, 2, 0.01, [3])] * len(weight_lrs),
                                           rel=1e-12), it
        assert arch_lr == pytest.approx(0.05 * 0.1 ** (epoch >= 2), rel=1e-12), it

    # one validation stream for the whole run (the authors' single iterator): not restarted at epochs
    trainer.valid_loader.set_epoch(0)
    stream = iter(trainer.valid_loader)
    assert [b["img_paths"] for b in valid_log] == [next(stream)["img_paths"] for _ in valid_log]

    # the authors' loop written from its description (msinet-facts.md), not from the trainer: per
    # iteration clear the weights' gradients; from the second iteration of an epoch on, an Adam step on
    # alpha with the valid loss, whose gradient also stays in the weights; then the train loss's
    # gradient is added and SGD steps the weights; each memory takes its batch's features after its loss;
    # the learning rates are set once per epoch (their schedulers step at each epoch's end)
    model, weights, alpha, memories = _authors_reference_parts(cfg, initial)
    for it, (tb, vb) in enumerate(zip(train_log, valid_log)):
        epoch = epochs[it]
        first = it == bounds[epoch]
        if first:
            for g in weights.param_groups:
                g["lr"] = _authors_lr(0.025, epoch, 2, 0.01, [3])
            for g in alpha.param_groups:
                g["lr"] = 0.05 * 0.1 ** sum(1 for s in cfg.SEARCH.ARCH_STEPS if s <= epoch)
        weights.zero_grad()
        if not first:
            alpha.zero_grad()
            features = model(vb)["features"]
            memories["valid"].loss(features, vb["targets"]).backward()
            alpha.step()
            memories["valid"].update(features.detach(), vb["targets"])
        features = model(tb)["features"]
        memories["train"].loss(features, tb["targets"]).backward()
        weights.step()
        memories["train"].update(features.detach(), tb["targets"])

    got = dict(trainer.model.named_parameters())
    for name, p in model.named_parameters():
        torch.testing.assert_close(got[name], p, rtol=1e-4, atol=1e-5, msg=name)
    for split in ("train", "valid"):
        torch.testing.assert_close(getattr(trainer, f"{split}_objective").memory.slots, memories[split].slots,
                                   rtol=1e-4, atol=1e-5)
