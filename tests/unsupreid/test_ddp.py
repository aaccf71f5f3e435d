"""ClusterTrainer under DDP (2 gloo CPU processes): one clustering per round with the same labels on every
rank, features extracted as shards (each rank's loader half the images), one model's features per round,
and cluster memories that stay identical through training (the update gathers every rank's batch)."""

import json
import os
from pathlib import Path

import pytest
import torch
import unsup_testlib

from fastreid.config import get_cfg
from fastreid.engine.launch import launch

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "projects" / "UnsupReID" / "configs" / "Base-cluster-contrast.yml"
TINY = [*unsup_testlib.TINY, "SOLVER.MAX_EPOCH", "2", "SOLVER.ITERS_PER_EPOCH", "1", "SOLVER.LOG_PERIOD", "100",
        "UNSUP.CLUSTER.PERIOD", "1", "UNSUP.CLUSTER.IMS_PER_BATCH", "4"]


@pytest.fixture(scope="module")
def market_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    unsup_testlib.tiny_market(root)
    return str(root)


def _weights_sum(model) -> float:
    """One number for a model's parameters and buffers (folded BN included): equal models, equal sums."""
    return float(sum(t.detach().double().sum() for t in list(model.parameters()) + list(model.buffers())))


def _record_rounds(trainer, record):
    """Wrap the trainer's round, its feature loader's sampler, its extraction model and the memory's
    rebuild so that each round's shard, labels, model and initial slots land in ``record``."""
    import unsupreid.trainer as trainer_mod
    from fastreid.data.samplers import InferenceSampler
    from fastreid.utils.comm import unwrap_model

    class RecordingSampler(InferenceSampler):
        def __iter__(self):
            record["shards"].append(list(range(self.begin, self.end)))
            return super().__iter__()

    trainer_mod.InferenceSampler = RecordingSampler
    extraction_model = trainer.extraction_model
    trainer.extraction_model = lambda: _recorded(extraction_model(), record["models"])
    run_round = trainer.pseudo_labels.run_round

    def recorded_round(epoch):
        stats = run_round(epoch)
        record["labels"].append(trainer.pseudo_labels.labels.tolist())
        return stats

    trainer.pseudo_labels.run_round = recorded_round
    loss = unwrap_model(trainer.model).losses["ClusterNCELoss"]
    rebuild = loss.rebuild

    def recorded_rebuild(centroids):
        rebuild(centroids)
        record["initial_slots"] = loss.memory.slots.tolist()

    loss.rebuild = recorded_rebuild
    return loss


def _recorded(model, models):
    models.append(_weights_sum(model))
    return model


def _ddp_worker(root, out):
    torch.set_num_threads(1)
    from fastreid.utils import comm
    from unsupreid import ClusterTrainer

    rank = comm.get_rank()
    # this process's stderr (C++ aborts included) to a file the test shows if a process dies
    err = os.open(os.path.join(out, f"rank{rank}.stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(err, 2)
    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(CONFIG))
    cfg.merge_from_list([*TINY, "DATASETS.ROOT", root, "DATASETS.NAMES", '("Market1501",)',
                         "DATASETS.TESTS", "()", "OUTPUT_DIR", os.path.join(out, "run")])
    trainer = ClusterTrainer(cfg)
    record = {"shards": [], "labels": [], "models": [], "initial_slots": None}
    loss = _record_rounds(trainer, record)
    trainer.train()
    record["slots"] = loss.memory.slots.tolist()
    record["weights"] = [float(p.detach().double().sum()) for p in trainer.model.module.parameters()]
    record["images"] = len(trainer.unlabelled)
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(record, f)


@pytest.mark.slow
def test_ddp_clusters_once_with_identical_labels_shards_and_memories(market_root, tmp_path):
    try:
        launch(_ddp_worker, 2, args=(market_root, str(tmp_path)), backend="gloo")
    except Exception as e:
        tails = {p.name: p.read_text()[-3000:] for p in sorted(tmp_path.glob("rank*.stderr"))}
        raise AssertionError(f"a DDP process failed: {e}; their stderr: {tails}") from e
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["images"] == r1["images"] == 32
    # two rounds (epochs 0 and 1); each rank's loader saw its own contiguous half of the images
    assert r0["shards"] == [list(range(16))] * 2 and r1["shards"] == [list(range(16, 32))] * 2
    assert len(r0["labels"]) == 2 and r0["labels"] == r1["labels"]
    assert max(r0["labels"][-1]) + 1 >= 4  # enough clusters for P x K batches of both ranks
    # round 2 comes after a training step: per-process BN statistics differ, the extraction model does not
    assert r0["models"] == r1["models"]
    assert r0["weights"] == r1["weights"]  # DDP: the same parameters (BN statistics are per process)
    # the memory moved away from the round's centroids, identically on both ranks
    assert r0["initial_slots"] == r1["initial_slots"] and r0["slots"] == r1["slots"]
    assert torch.tensor(r0["slots"]).sub(torch.tensor(r0["initial_slots"])).abs().max() > 1e-6
    rounds = json.loads((tmp_path / "run" / "clustering.json").read_text())
    assert [r["epoch"] for r in rounds] == [0, 1] and "nmi" in rounds[0]
