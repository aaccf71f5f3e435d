"""Identity samplers for metric learning: batches of P identities x K images each.

Both are infinite and built from global batches of ``P * world_size`` identities; rank r takes the
identities ``[r*P, (r+1)*P)`` of each global batch, so under DDP every rank sees its own identities
and no batch is duplicated across ranks. The stream is one pass after another; ``batches_in_pass(epoch)``
says how many global batches the first pass of an epoch's stream holds (it varies from epoch to epoch
for the naive sampler), for a trainer whose epoch is one pass (the MSINet authors' loop).
"""

from __future__ import annotations

from typing import Iterator, List, Optional, Sequence

import numpy as np

from fastreid.utils.errors import ConfigValueError

from ..datasets.bases import natural_key
from .base import EpochSampler, group_by_pid

__all__ = ["NaiveIdentitySampler", "BalancedIdentitySampler"]


class _IdentitySampler(EpochSampler):
    """``repeat_identities``: with fewer identities than a batch holds, list each identity several times
    so that a batch may hold one identity twice (a clustering round that found few clusters) instead of
    stopping."""

    def __init__(self, data_source: Sequence, mini_batch_size: int, num_instances: int,
                 seed: Optional[int] = None, rank: Optional[int] = None, world_size: Optional[int] = None,
                 repeat_identities: bool = False):
        super().__init__(seed, rank, world_size)
        name = type(self).__name__
        if num_instances < 1 or mini_batch_size % num_instances != 0:
            raise ConfigValueError(f"{name}: per-process batch {mini_batch_size} is not a multiple of "
                             f"DATALOADER.NUM_INSTANCE {num_instances}; expected P x K images per batch")
        self.num_instances = int(num_instances)
        self.num_pids_per_batch = mini_batch_size // num_instances
        self.index_of = group_by_pid(data_source)
        self.pids = sorted(self.index_of, key=natural_key)
        self.camids = [it[2] for it in data_source]
        need = self.num_pids_per_batch * self.world_size
        if len(self.pids) < need and repeat_identities and self.pids:
            self.pids = self.pids * -(-need // len(self.pids))
        if len(self.pids) < need:
            raise ConfigValueError(f"{name}: {len(self.pids)} identities cannot fill a batch of {need} identities "
                             f"(P={self.num_pids_per_batch} x {self.world_size} processes); expected at least "
                             f"{need} (lower SOLVER.IMS_PER_BATCH or raise DATALOADER.NUM_INSTANCE)")

    def _split(self, global_batch: List[List[int]]) -> List[List[int]]:
        p = self.num_pids_per_batch
        return [[i for chunk in global_batch[r * p:(r + 1) * p] for i in chunk] for r in range(self.world_size)]

    def _one_pass(self, rng: np.random.Generator) -> Iterator[List[List[int]]]:
        """The global batches of one pass."""
        raise NotImplementedError

    def _global_batches(self, rng: np.random.Generator) -> Iterator[List[List[int]]]:
        while True:
            yield from self._one_pass(rng)

    def batches_in_pass(self, epoch: int) -> int:
        """Global batches (iterations) in the first pass of ``epoch``'s stream."""
        return sum(1 for _ in self._one_pass(np.random.default_rng((self.seed, int(epoch)))))


class NaiveIdentitySampler(_IdentitySampler):
    """P random identities x K images, drawn without replacement within a pass.

    A pass starts with every identity's images shuffled (identities with fewer than K images are
    padded by drawing with replacement). Each batch picks P*world distinct identities among those with
    at least K images left and takes K of each; the pass ends when fewer than P*world identities remain,
    so one pass uses nearly every image once.
    """

    def _one_pass(self, rng: np.random.Generator) -> Iterator[List[List[int]]]:
        k, need = self.num_instances, self.num_pids_per_batch * self.world_size
        pools = {}
        for pid in self.pids:
            idx = self.index_of[pid]
            pools[pid] = (rng.permutation(idx) if len(idx) >= k else rng.choice(idx, k, replace=True)).tolist()
        active = list(self.pids)
        while len(active) >= need:
            chosen = [active[i] for i in rng.choice(len(active), need, replace=False)]
            batch = []
            for pid in chosen:
                batch.append(pools[pid][:k])
                pools[pid] = pools[pid][k:]
            active = [p for p in active if len(pools[p]) >= k]
            yield self._split(batch)


class BalancedIdentitySampler(_IdentitySampler):
    """Every identity once per pass (random order); per identity an anchor plus K-1 images that prefer
    cameras other than the anchor's (then the anchor's camera, then repeats when the identity is small).
    """

    def _one_pass(self, rng: np.random.Generator) -> Iterator[List[List[int]]]:
        k, need = self.num_instances, self.num_pids_per_batch * self.world_size
        order = [self.pids[i] for i in rng.permutation(len(self.pids))]
        order = order[:len(order) - len(order) % need]
        for start in range(0, len(order), need):
            batch = []
            for pid in order[start:start + need]:
                idx = self.index_of[pid]
                anchor = idx[int(rng.integers(len(idx)))]
                cam = self.camids[anchor]
                other = [i for i in idx if self.camids[i] != cam]
                same = [i for i in idx if i != anchor and self.camids[i] == cam]
                cand = rng.permutation(other).tolist() + rng.permutation(same).tolist()
                if len(cand) < k - 1:
                    cand += rng.choice(idx, k - 1 - len(cand), replace=True).tolist()
                batch.append([anchor] + cand[:k - 1])
            yield self._split(batch)
