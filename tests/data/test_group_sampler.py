"""GroupSampler (Group Sampling): the pass structure (whole chunks of clusters, the unclustered last
before the piece shuffle, every index once per pass), seeding and restarts, DDP shards, and its config."""

import itertools
from pathlib import Path

import numpy as np
import pytest

from fastreid.data.build import build_train_sampler
from fastreid.data.samplers import GroupSampler
from fastreid.utils.errors import ConfigValueError

REPO = Path(__file__).resolve().parents[2]
# clusters of 5, 3, 9 and 12 images, plus 6 single-member labels: 35 images
SIZES = {"a": 5, "b": 3, "c": 9, "d": 12, **{f"s{k}": 1 for k in range(6)}}


def _items(sizes=SIZES):
    """Items (path, label, camid) with the labels interleaved, so no cluster is contiguous by index."""
    labels = [lab for lab, n in sizes.items() for _ in range(n)]
    order = np.random.default_rng(123).permutation(len(labels))
    return [(f"{k}.jpg", labels[j], k % 3) for k, j in enumerate(order)]


def _take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def _runs(stream, items):
    """The labels of ``stream`` as runs: [(label, run length), ...]."""
    return [(lab, len(list(g))) for lab, g in itertools.groupby(items[i][1] for i in stream)]


def test_ordered_pass_holds_whole_chunks_then_the_unclustered():
    items = _items()
    s = GroupSampler(items, mini_batch_size=8, group_size=6, seed=0, rank=0, world_size=1)
    chunks = s.chunks(np.random.default_rng(1))
    stream = s.ordered_pass(np.random.default_rng(1))  # the same draws: these chunks, then the rest
    assert sorted(stream) == list(range(len(items)))
    joined = [i for c in chunks for i in c]
    singles = {i for i, it in enumerate(items) if it[1].startswith("s")}
    assert stream[:len(joined)] == joined and set(stream[len(joined):]) == singles  # unclustered last
    # a cluster of <= N images is one chunk; larger ones are cut into chunks of <= N; one label a chunk
    sizes = {}
    for c in chunks:
        assert len({items[i][1] for i in c}) == 1
        sizes.setdefault(items[c[0]][1], []).append(len(c))
    assert sizes["a"] == [5] and sizes["b"] == [3]
    assert sorted(sizes["c"]) == [3, 6] and sorted(sizes["d"]) == [6, 6]
    orders = {tuple(items[c[0]][1] for c in s.chunks(np.random.default_rng(k))) for k in range(5)}
    assert len(chunks) == 6 and len(orders) > 1  # the chunks come in random order
    runs = _runs(stream, items)
    assert sum(1 for lab, _ in runs if lab == "a") == 1  # a cluster <= N is contiguous in the stream


def test_batches_are_shuffled_pieces_of_the_ordered_pass():
    items = _items({"a": 5, "b": 3, "c": 9, "d": 12, "s0": 1, "s1": 1, "s2": 1})  # 32 images: 4 pieces of 8
    s = GroupSampler(items, mini_batch_size=8, group_size=16, seed=4, rank=0, world_size=1)
    ordered = s.ordered_pass(np.random.default_rng((4, 0)))
    pieces = sorted(ordered[i:i + 8] for i in range(0, 32, 8))
    first_pass = _take(s, 32)
    assert sorted(first_pass[i:i + 8] for i in range(0, 32, 8)) == pieces
    for start in range(0, 32, 8):  # inside a batch every cluster is one contiguous run (N >= cluster)
        labels = [lab for lab, _ in _runs(first_pass[start:start + 8], items)]
        assert len(labels) == len(set(labels))


def test_every_index_once_per_pass_and_passes_differ():
    items = _items()
    s = GroupSampler(items, mini_batch_size=4, group_size=4, seed=2, rank=0, world_size=1)
    stream = _take(s, 3 * len(items))
    passes = [stream[k * len(items):(k + 1) * len(items)] for k in range(3)]
    assert all(sorted(p) == list(range(len(items))) for p in passes)
    assert passes[0] != passes[1]


def test_stream_is_a_function_of_seed_and_epoch_and_restartable():
    items = _items()
    a, b = (GroupSampler(items, 8, 6, seed=9, rank=0, world_size=1) for _ in range(2))
    assert _take(a, 80) == _take(b, 80)
    assert _take(GroupSampler(items, 8, 6, seed=10, rank=0, world_size=1), 80) != _take(a, 80)
    a.set_epoch(3)
    epoch3 = _take(a, 80)
    assert epoch3 != _take(b, 80)
    b.set_epoch(3, start_index=24)
    assert _take(b, 56) == epoch3[24:]


def test_ranks_take_disjoint_slices_of_each_global_batch():
    items = _items({"a": 5, "b": 3, "c": 9, "d": 12, "s0": 1, "s1": 1, "s2": 1})  # 2 global batches of 16
    world, b = 2, 8
    streams = [_take(GroupSampler(items, b, 16, seed=5, rank=r, world_size=world), 16) for r in range(world)]
    assert not set(streams[0]) & set(streams[1])
    assert sorted(streams[0] + streams[1]) == list(range(32))
    single = GroupSampler(items, b * world, 16, seed=5, rank=0, world_size=1)
    whole = _take(single, 32)  # the same pass cut for one process of the global batch
    assert streams[0] == whole[0:8] + whole[16:24] and streams[1] == whole[8:16] + whole[24:32]


def test_group_size_and_empty_set_are_checked(cfg):
    with pytest.raises(ConfigValueError, match="DATALOADER.GROUP_SIZE: 0; expected an integer >= 1"):
        GroupSampler(_items(), 8, 0, seed=0, rank=0, world_size=1)
    with pytest.raises(ConfigValueError, match="training set is empty"):
        GroupSampler([], 8, 4, seed=0, rank=0, world_size=1)
    cfg.DATALOADER.SAMPLER_TRAIN = "groupsampler"
    cfg.DATALOADER.GROUP_SIZE = 4
    s = build_train_sampler(cfg, _items(), 8, seed=0)
    assert isinstance(s, GroupSampler) and s.group_size == 4 and s.batch_size == 8
    cfg.DATALOADER.GROUP_SIZE = -1
    with pytest.raises(ConfigValueError, match="DATALOADER.GROUP_SIZE: -1"):
        build_train_sampler(cfg, _items(), 8, seed=0)


def test_unsupreid_checks_the_group_size_before_its_first_round(cfg):
    """ClusterTrainer builds its sampler only at the first round, after extracting features: the
    project's config check must stop a bad GROUP_SIZE first."""
    from unsupreid import check_unsup_cfg

    cfg.merge_from_file(str(REPO / "projects/UnsupReID/configs/PKUReIDSubset/usl_gs_resnet50.yml"))
    assert (cfg.DATALOADER.SAMPLER_TRAIN, cfg.DATALOADER.GROUP_SIZE) == ("GroupSampler", 64)
    check_unsup_cfg(cfg)
    cfg.DATALOADER.GROUP_SIZE = 0
    with pytest.raises(ConfigValueError, match="DATALOADER.GROUP_SIZE: 0"):
        check_unsup_cfg(cfg)
