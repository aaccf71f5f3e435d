"""Training batch sampler that attaches a per-sample augmentation seed and supports exact restarts."""

from __future__ import annotations

import logging
from typing import Iterator, List, Tuple

from torch.utils.data import Sampler

__all__ = ["SeededBatchSampler", "sample_seed"]

logger = logging.getLogger(__name__)


def sample_seed(seed: int, epoch: int, rank: int, position: int) -> int:
    """Augmentation seed of the ``position``-th sample of ``epoch`` on ``rank`` (deterministic, 31 bit)."""
    return hash((int(seed), int(epoch), int(rank), int(position))) & 0x7FFFFFFF


class SeededBatchSampler(Sampler):
    """Group an (infinite) index sampler into batches of ``(index, augmentation_seed)`` pairs.

    ``set_epoch(epoch, start_iter)`` restarts both the index stream (``sampler.set_epoch(epoch,
    start_iter * batch_size)`` when the sampler has it) and the seed positions, so the batches from that
    point on equal those of an uninterrupted run, whatever the number of workers.
    """

    def __init__(self, sampler, batch_size: int, seed: int):
        self.sampler, self.batch_size, self.seed = sampler, int(batch_size), int(seed)
        self.epoch, self.start_iter = 0, 0
        self.rank = getattr(sampler, "rank", 0)
        if not hasattr(sampler, "set_epoch"):
            logger.warning("training sampler %s has no set_epoch(); restarts replay only the augmentation seeds",
                           type(sampler).__name__)

    def set_epoch(self, epoch: int, start_iter: int = 0) -> None:
        self.epoch, self.start_iter = int(epoch), int(start_iter)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch, self.start_iter * self.batch_size)

    def __iter__(self) -> Iterator[List[Tuple[int, int]]]:
        pos = self.start_iter * self.batch_size
        batch: List[Tuple[int, int]] = []
        for idx in self.sampler:
            batch.append((int(idx), sample_seed(self.seed, self.epoch, self.rank, pos)))
            pos += 1
            if len(batch) == self.batch_size:
                yield batch
                batch = []
