"""Samplers over plain indices: an infinite shuffling one for training and a sharding one for tests."""

from __future__ import annotations

import itertools
import math
from typing import Iterator, Optional

import numpy as np
from torch.utils.data import Sampler

from fastreid.utils.errors import ConfigValueError

from .base import EpochSampler, resolve_rank

__all__ = ["TrainingSampler", "InferenceSampler"]


class TrainingSampler(EpochSampler):
    """Endless chain of random permutations of ``range(size)``; rank r takes every world_size-th index."""

    def __init__(self, size: int, shuffle: bool = True, seed: Optional[int] = None,
                 rank: Optional[int] = None, world_size: Optional[int] = None):
        if size <= 0:
            raise ConfigValueError(f"TrainingSampler: dataset size {size}; expected a non-empty training set")
        super().__init__(seed, rank, world_size)
        self.size, self.shuffle = int(size), shuffle

    def _rank_stream(self, rng: np.random.Generator) -> Iterator[int]:
        def stream():
            while True:
                yield from (rng.permutation(self.size) if self.shuffle else range(self.size)).tolist()

        return itertools.islice(stream(), self.rank, None, self.world_size)


class InferenceSampler(Sampler):
    """Finite, in-order shard of ``range(size)``: rank r gets the r-th contiguous block of ceil(size/world)."""

    def __init__(self, size: int, rank: Optional[int] = None, world_size: Optional[int] = None):
        self.size = int(size)
        self.rank, self.world_size = resolve_rank(rank, world_size)
        shard = math.ceil(self.size / self.world_size)
        self.begin = min(self.rank * shard, self.size)
        self.end = min(self.begin + shard, self.size)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.begin, self.end))

    def __len__(self) -> int:
        return self.end - self.begin
