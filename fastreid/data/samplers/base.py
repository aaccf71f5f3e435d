"""Shared machinery of the training samplers: seeding, epochs, restart points and rank slicing."""

from __future__ import annotations

import itertools
from typing import Iterator, List, Optional, Sequence

import numpy as np
from torch.utils.data import Sampler

from fastreid.utils import comm

__all__ = ["EpochSampler", "resolve_seed", "resolve_rank"]


def resolve_seed(seed: Optional[int]) -> int:
    """``seed`` when given and >= 0, else a fresh seed shared by every process."""
    return int(seed) if seed is not None and seed >= 0 else comm.shared_random_seed()


def resolve_rank(rank: Optional[int], world_size: Optional[int]):
    """(rank, world_size), defaulting to the current process group; checked for consistency."""
    world = comm.get_world_size() if world_size is None else int(world_size)
    r = comm.get_rank() if rank is None else int(rank)
    if world < 1 or not 0 <= r < world:
        raise ValueError(f"sampler rank {r} / world_size {world} invalid; expected 0 <= rank < world_size")
    return r, world


class EpochSampler(Sampler):
    """An infinite index stream that is a pure function of ``(seed, epoch, rank, world_size)``.

    Subclasses implement ``_global_batches(rng)`` (an infinite iterator of global batches, each a list
    of ``world_size`` equal per-rank index lists) or override ``_rank_stream``. ``set_epoch(epoch,
    start_index)`` selects the stream of that epoch (RNG ``default_rng((seed, epoch))``) and skips its
    first ``start_index`` indices of this rank; the change takes effect at the next ``iter()``.
    """

    def __init__(self, seed: Optional[int] = None, rank: Optional[int] = None,
                 world_size: Optional[int] = None):
        self.seed = resolve_seed(seed)
        self.rank, self.world_size = resolve_rank(rank, world_size)
        self.epoch = 0
        self.start_index = 0

    def set_epoch(self, epoch: int, start_index: int = 0) -> None:
        """Restart the stream at ``epoch``, skipping its first ``start_index`` indices on this rank."""
        self.epoch, self.start_index = int(epoch), int(start_index)

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng((self.seed, self.epoch))

    def _global_batches(self, rng: np.random.Generator) -> Iterator[List[List[int]]]:
        raise NotImplementedError

    def _rank_stream(self, rng: np.random.Generator) -> Iterator[int]:
        for per_rank in self._global_batches(rng):
            yield from per_rank[self.rank]

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(self._rank_stream(self._rng()), self.start_index, None)


def group_by_pid(data_source: Sequence) -> dict:
    """pid -> list of indices, for items ``(img_path, pid, camid)``."""
    out: dict = {}
    for i, it in enumerate(data_source):
        out.setdefault(it[1], []).append(i)
    return out
