"""Samplers for training (infinite, seeded, restartable) and testing (finite shards).

Exact resume. Every training sampler is an infinite stream that is a pure function of
``(seed, epoch, rank, world_size)``: ``set_epoch(epoch, start_index=0)`` re-seeds it with
``numpy.random.default_rng((seed, epoch))`` and skips the first ``start_index`` indices of this rank,
taking effect at the next ``iter()``. The train loader's ``SeededBatchSampler`` adds to every index an
augmentation seed ``hash((seed, epoch, rank, position))`` and ``CommDataset`` runs the random
transforms under it, so augmentation does not depend on workers or global RNG state. The train loader
exposes ``loader.set_epoch(epoch, start_iter=0)``: a trainer that calls it and then ``iter(loader)`` at
the start of every epoch (and, when resuming in the middle of an epoch, ``set_epoch(epoch, start_iter=i)``)
gets exactly the batches of an uninterrupted run. A loader that is iterated once without ``set_epoch``
still yields one deterministic endless stream (epoch 0) for a given seed.
"""

from .base import EpochSampler
from .batch_sampler import SeededBatchSampler
from .data_sampler import InferenceSampler, TrainingSampler
from .group_sampler import GroupSampler
from .triplet_sampler import BalancedIdentitySampler, NaiveIdentitySampler

__all__ = ["EpochSampler", "TrainingSampler", "InferenceSampler", "NaiveIdentitySampler",
           "BalancedIdentitySampler", "GroupSampler", "SeededBatchSampler"]
