"""Samplers: P x K structure, DDP disjointness (ranks simulated), seeding and restarts."""

import itertools

import pytest

from fastreid.data.samplers import (
    BalancedIdentitySampler,
    InferenceSampler,
    NaiveIdentitySampler,
    TrainingSampler,
)


def _items(num_ids=12, per_id=(1, 3, 5, 8), cams=3):
    items = []
    for pid in range(num_ids):
        for k in range(per_id[pid % len(per_id)]):
            items.append((f"{pid}_{k}.jpg", f"ds_{pid}", f"ds_{k % cams}"))
    return items


def _take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


@pytest.mark.parametrize("cls", [NaiveIdentitySampler, BalancedIdentitySampler])
def test_identity_sampler_p_by_k(cls):
    items = _items()
    s = cls(items, mini_batch_size=12, num_instances=4, seed=0, rank=0, world_size=1)
    stream = _take(s, 12 * 20)
    for b in range(20):
        batch = stream[b * 12:(b + 1) * 12]
        pids = [items[i][1] for i in batch]
        groups = [pids[j:j + 4] for j in range(0, 12, 4)]
        assert all(len(set(g)) == 1 for g in groups)  # K consecutive images of one identity
        assert len({g[0] for g in groups}) == 3  # P distinct identities


@pytest.mark.parametrize("cls", [NaiveIdentitySampler, BalancedIdentitySampler])
def test_identity_sampler_ranks_get_disjoint_identities(cls):
    items = _items()
    world, per_rank = 3, 8
    streams = [_take(cls(items, per_rank, 2, seed=5, rank=r, world_size=world), per_rank * 15) for r in range(world)]
    for b in range(15):
        ids = [{items[i][1] for i in s[b * per_rank:(b + 1) * per_rank]} for s in streams]
        assert all(len(x) == per_rank // 2 for x in ids)
        assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])


def test_naive_sampler_uses_each_image_at_most_once_per_pass():
    items = [(f"{p}_{k}", p, k % 2) for p in range(6) for k in range(4)]
    s = NaiveIdentitySampler(items, mini_batch_size=4, num_instances=2, seed=1, rank=0, world_size=1)
    first_pass = _take(s, 24)  # 6 ids x 4 images, P=2 K=2: a pass is exactly 6 batches
    assert sorted(first_pass) == list(range(24))


def test_balanced_sampler_prefers_other_cameras():
    items = [(f"{p}_{k}", p, k) for p in range(4) for k in range(4)]  # each id: one image per camera
    s = BalancedIdentitySampler(items, mini_batch_size=8, num_instances=4, seed=2, rank=0, world_size=1)
    stream = _take(s, 8 * 10)
    for j in range(0, len(stream), 4):
        assert len({items[i][2] for i in stream[j:j + 4]}) == 4


def test_training_sampler_ranks_partition_each_permutation():
    world = 2
    streams = [_take(TrainingSampler(10, seed=3, rank=r, world_size=world), 5) for r in range(world)]
    assert sorted(streams[0] + streams[1]) == list(range(10))


@pytest.mark.parametrize("make", [
    lambda: TrainingSampler(17, seed=9, rank=0, world_size=1),
    lambda: NaiveIdentitySampler(_items(), 8, 4, seed=9, rank=0, world_size=1),
    lambda: BalancedIdentitySampler(_items(), 8, 4, seed=9, rank=0, world_size=1),
])
def test_stream_is_a_function_of_seed_and_epoch_and_restartable(make):
    a, b = make(), make()
    assert _take(a, 60) == _take(b, 60)
    a.set_epoch(4)
    epoch4 = _take(a, 60)
    assert epoch4 != _take(b, 60)  # another epoch, another stream
    b.set_epoch(4, start_index=24)
    assert _take(b, 36) == epoch4[24:]


def test_identity_sampler_rejects_batch_not_multiple_of_k_and_too_few_ids():
    with pytest.raises(ValueError, match="not a multiple"):
        NaiveIdentitySampler(_items(), 10, 4, seed=0, rank=0, world_size=1)
    with pytest.raises(ValueError, match="12 identities cannot fill"):
        NaiveIdentitySampler(_items(), 16, 2, seed=0, rank=0, world_size=2)


def test_inference_sampler_shards_in_order():
    shards = [list(InferenceSampler(10, rank=r, world_size=3)) for r in range(3)]
    assert shards == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(InferenceSampler(10, rank=2, world_size=3)) == 2


@pytest.mark.parametrize("cls", [NaiveIdentitySampler, BalancedIdentitySampler])
def test_repeat_identities_fills_batches_from_fewer_identities_than_p(cls):
    items = _items(num_ids=3, per_id=(8,))  # 3 identities, a batch of P = 5
    with pytest.raises(ValueError, match="3 identities cannot fill"):
        cls(items, 20, 4, seed=0, rank=0, world_size=1)
    s = cls(items, 20, 4, seed=0, rank=0, world_size=1, repeat_identities=True)
    stream = _take(s, 20 * 10)
    for b in range(10):
        pids = [items[i][1] for i in stream[b * 20:(b + 1) * 20]]
        groups = [pids[j:j + 4] for j in range(0, 20, 4)]
        assert all(len(set(g)) == 1 for g in groups)  # still K images of one identity per slot
        assert {g[0] for g in groups} == {"ds_0", "ds_1", "ds_2"}  # every identity, some of them twice


def test_batches_in_pass_counts_the_batches_of_one_pass_of_the_naive_sampler():
    items = _items(num_ids=16, per_id=(2, 5, 9, 13))
    k, p = 4, 2
    s = NaiveIdentitySampler(items, mini_batch_size=p * k, num_instances=k, seed=4, rank=0, world_size=1)
    lengths = []
    for epoch in range(8):
        n = s.batches_in_pass(epoch)
        s.set_epoch(epoch)
        first = _take(s, n * p * k)
        pids = {it[1] for it in items}
        sizes = {pid: sum(1 for it in items if it[1] == pid) for pid in pids}
        big = [i for i in first if sizes[items[i][1]] >= k]
        assert len(big) == len(set(big))  # no image of an identity with >= K images twice within a pass
        used = {pid: sum(1 for i in first if items[i][1] == pid) for pid in pids}
        left = [pid for pid in pids if max(sizes[pid], k) - used[pid] >= k]  # identities with a K-chunk left
        assert len(left) < p  # the pass ended because fewer than P identities could fill a batch
        lengths.append(n)
    assert len(set(lengths)) > 1  # the naive sampler's pass length varies with the epoch


def test_batches_in_pass_of_the_balanced_sampler_is_the_identities_over_p():
    s = BalancedIdentitySampler(_items(num_ids=14), mini_batch_size=12, num_instances=4, seed=0, rank=0, world_size=1)
    assert [s.batches_in_pass(e) for e in range(3)] == [14 // 3] * 3
