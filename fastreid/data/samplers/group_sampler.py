"""Group Sampling (GS): batches made of whole chunks of (pseudo-)identities, as the GS paper's sampler.

One pass over the training set (``../shared/reference/unsupervised-facts.md``, section 2):

1. the indices grouped by label; the members of single-member labels pooled as "unclustered";
2. each cluster shuffled and cut into consecutive chunks of at most ``group_size`` (N) images;
3. all chunks shuffled and joined;
4. the shuffled unclustered indices appended;
5. that stream cut into pieces of one global batch, the pieces shuffled and joined.

So a batch holds a few whole clusters (N usually exceeds a cluster's size) and no camera balancing;
some batches hold only unclustered images, and the short last piece shifts the batch borders after
it. The sampler is infinite: pass after pass, the remainder of a pass running into the next, so no
image is dropped. Under DDP a piece is one global batch (``mini_batch_size * world_size`` images) and
rank r takes its ``[r*b, (r+1)*b)`` slice of every global batch, as the identity samplers do.
"""

from __future__ import annotations

import itertools
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from fastreid.utils.errors import ConfigValueError

from ..datasets.bases import natural_key
from .base import EpochSampler, group_by_pid

__all__ = ["GroupSampler", "check_group_size", "split_clusters"]


def check_group_size(group_size) -> None:
    """N must be an integer >= 1 (DATALOADER.GROUP_SIZE)."""
    if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)) or group_size < 1:
        raise ConfigValueError(f"DATALOADER.GROUP_SIZE: {group_size!r}; expected an integer >= 1 (the most "
                               "images of one cluster kept together; 256 on Market-1501)")


class GroupSampler(EpochSampler):
    """Infinite GS stream over ``data_source`` items ``(img_path, label, camid)``.

    Args:
        data_source: the training items; their label (a pseudo-label) defines the clusters.
        mini_batch_size: images per batch of this process (SOLVER.IMS_PER_BATCH / world size).
        group_size: N, the most images of one cluster in one contiguous chunk (DATALOADER.GROUP_SIZE).
        seed, rank, world_size: as every :class:`~fastreid.data.samplers.base.EpochSampler`.
    """

    def __init__(self, data_source: Sequence, mini_batch_size: int, group_size: int,
                 seed: Optional[int] = None, rank: Optional[int] = None, world_size: Optional[int] = None):
        super().__init__(seed, rank, world_size)
        check_group_size(group_size)
        if mini_batch_size < 1:
            raise ConfigValueError(f"GroupSampler: per-process batch {mini_batch_size}; expected >= 1 image")
        if len(data_source) == 0:
            raise ConfigValueError("GroupSampler: the training set is empty; expected images")
        self.batch_size = int(mini_batch_size)
        self.group_size = int(group_size)
        self.clusters, self.unclustered = split_clusters(data_source)
        self.num_images = len(data_source)

    def chunks(self, rng: np.random.Generator) -> List[List[int]]:
        """Steps 2-3: every cluster shuffled and cut into chunks of <= N, the chunks in random order."""
        n = self.group_size
        out: List[List[int]] = []
        for members in self.clusters:
            shuffled = rng.permutation(members).tolist()
            out.extend(shuffled[i:i + n] for i in range(0, len(shuffled), n))
        return [out[i] for i in rng.permutation(len(out))]

    def ordered_pass(self, rng: np.random.Generator) -> List[int]:
        """Steps 1-4: one pass's stream before the piece shuffle (joined chunks, then the unclustered)."""
        stream = [i for chunk in self.chunks(rng) for i in chunk]
        return stream + rng.permutation(self.unclustered).tolist()

    def shuffle_pieces(self, stream: Sequence[int], rng: np.random.Generator) -> List[int]:
        """Step 5: ``stream`` cut into global-batch pieces (the last one may be short), pieces shuffled."""
        size = self.batch_size * self.world_size
        pieces = [list(stream[i:i + size]) for i in range(0, len(stream), size)]
        return [i for k in rng.permutation(len(pieces)) for i in pieces[k]]

    def one_pass(self, rng: np.random.Generator) -> List[int]:
        """One whole GS pass: every index once."""
        return self.shuffle_pieces(self.ordered_pass(rng), rng)

    def _global_batches(self, rng: np.random.Generator) -> Iterator[List[List[int]]]:
        b, world = self.batch_size, self.world_size
        stream = itertools.chain.from_iterable(self.one_pass(rng) for _ in itertools.count())
        while True:
            batch = list(itertools.islice(stream, b * world))
            yield [batch[r * b:(r + 1) * b] for r in range(world)]


def split_clusters(data_source: Sequence) -> Tuple[List[List[int]], List[int]]:
    """Step 1: (indices of every label with >= 2 members, in natural label order; indices of the
    single-member labels, pooled as unclustered)."""
    by_label = group_by_pid(data_source)
    clusters, unclustered = [], []
    for label in sorted(by_label, key=natural_key):
        members = by_label[label]
        if len(members) > 1:
            clusters.append(members)
        else:
            unclustered.extend(members)
    return clusters, unclustered
