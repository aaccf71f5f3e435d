"""Identity split for architecture search (MSINet's "train 60 % - valid 80 %").

With the identities sorted as 0..P-1, the train part gets identities ``[0, train_ratio * P)`` and the
validation part ``[(1 - valid_ratio) * P, P)``. Identities in the overlap band have their images
split in half (in the given order: the first ceil(n/2) to train, the rest to valid; an identity with
a single image appears in both). ``train_ratio = valid_ratio = 1`` gives two identical sets (the
"CE overlap" softmax baseline); ratios that sum to <= 1 give disjoint identities.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence, Tuple

from .datasets.bases import natural_key

__all__ = ["split_search_identities"]

Item = Tuple[str, Any, Any]


def _relabel(items: List[Item]) -> List[Item]:
    order = {p: i for i, p in enumerate(sorted({it[1] for it in items}, key=natural_key))}
    return [(path, order[pid], cam) for path, pid, cam in items]


def split_search_identities(items: Sequence[Item], train_ratio: float = 0.6,
                            valid_ratio: float = 0.8) -> Tuple[List[Item], List[Item]]:
    """Split ``(img_path, pid, camid)`` items into (train_items, valid_items), each relabelled 0..N-1.

    Camera ids are passed through unchanged. Raises ``ValueError`` for ratios outside (0, 1] or a
    split that would leave a part empty.
    """
    for key, r in (("train_ratio", train_ratio), ("valid_ratio", valid_ratio)):
        if not 0.0 < r <= 1.0:
            raise ValueError(f"split_search_identities: {key} {r} out of range; expected 0 < ratio <= 1")
    pids = sorted({it[1] for it in items}, key=natural_key)
    n = len(pids)
    if n == 0:
        raise ValueError("split_search_identities: no items to split; expected a non-empty training set")
    train_end = math.ceil(round(train_ratio * n, 9))
    valid_start = math.ceil(round((1.0 - valid_ratio) * n, 9))
    rank = {p: i for i, p in enumerate(pids)}
    by_pid: Dict[Any, List[Item]] = {}
    for it in items:
        by_pid.setdefault(it[1], []).append(it)
    full_overlap = train_ratio >= 1.0 and valid_ratio >= 1.0
    train, valid = [], []
    for pid in pids:
        i, imgs = rank[pid], by_pid[pid]
        in_train, in_valid = i < train_end, i >= valid_start
        if in_train and in_valid and not full_overlap and len(imgs) > 1:
            half = math.ceil(len(imgs) / 2)
            train.extend(imgs[:half])
            valid.extend(imgs[half:])
            continue
        if in_train:
            train.extend(imgs)
        if in_valid:
            valid.extend(imgs)
    if not train or not valid:
        raise ValueError(f"split_search_identities: ratios {train_ratio}/{valid_ratio} leave an empty part for "
                         f"{n} identities; expected each part to get at least one identity")
    return _relabel(train), _relabel(valid)
