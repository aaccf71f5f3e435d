"""Identity split for architecture search (MSINet's "train 60 % - valid 80 %").

With the identities sorted as 0..P-1, the train part gets identities ``[0, train_ratio * P)`` and the
validation part ``[(1 - valid_ratio) * P, P)``. Identities in the overlap band have their images
divided between the two parts (supplement Sec. 8: "evenly divide their images"), in the given order;
``train_ratio = valid_ratio = 1`` therefore gives the same identities on both sides with disjoint
images, and ratios that sum to <= 1 give disjoint identities. Two roundings:

- ``"paper"``: boundaries ``ceil(ratio * P)``; the first ``ceil(n / 2)`` images of an overlapping
  identity go to train, the rest to valid (an identity with a single image appears in both);
- ``"authors"``: as the authors' code computes it, boundaries on multiples of ``P // 5`` (the 60 % - 80 %
  split is ``[0, 3 (P // 5))`` and ``[P // 5, P)``; other ratios are taken of ``5 (P // 5)`` and rounded
  down, an extension: their code knows 60 % - 80 % only), the first ``floor(n / 2)`` images to train (a
  single image goes to valid only). Labels are not re-indexed: train identity ``i`` keeps label ``i``
  (an overlapping identity with one image leaves its train label, and memory slot, empty), valid
  identity ``i`` gets ``i - valid_start``.

Either way a part has one class per identity of its band (:func:`split_class_counts`): for "paper" every
one of them has images, for "authors" a train class may have none.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from fastreid.data.datasets.bases import natural_key

__all__ = ["split_search_identities", "split_class_counts", "SPLIT_ROUNDINGS"]

SPLIT_ROUNDINGS = ("paper", "authors")

Item = Tuple[str, Any, Any]


def _relabel(items: List[Item], labels: Optional[Dict[Any, int]] = None) -> List[Item]:
    """Items with integer labels: ``labels[pid]``, or the rank of the pid among the items' (0..N-1)."""
    if labels is None:
        labels = {p: i for i, p in enumerate(sorted({it[1] for it in items}, key=natural_key))}
    return [(path, labels[pid], cam) for path, pid, cam in items]


def _boundaries(num_ids: int, train_ratio: float, valid_ratio: float, rounding: str) -> Tuple[int, int]:
    """(end of the train identities, start of the valid identities)."""
    if rounding == "authors":
        base = 5 * (num_ids // 5)
        return math.floor(round(train_ratio * base, 9)), math.floor(round((1.0 - valid_ratio) * base, 9))
    return math.ceil(round(train_ratio * num_ids, 9)), math.ceil(round((1.0 - valid_ratio) * num_ids, 9))


def split_class_counts(num_ids: int, train_ratio: float = 0.6, valid_ratio: float = 0.8,
                       rounding: str = "paper") -> Tuple[int, int]:
    """(train classes, valid classes) of the split of ``num_ids`` identities: the identities of each band."""
    train_end, valid_start = _boundaries(num_ids, train_ratio, valid_ratio, rounding)
    return train_end, num_ids - valid_start


def split_search_identities(items: Sequence[Item], train_ratio: float = 0.6, valid_ratio: float = 0.8,
                            rounding: str = "paper") -> Tuple[List[Item], List[Item]]:
    """Split ``(img_path, pid, camid)`` items into (train_items, valid_items) with integer labels
    (0..N-1 for "paper"; for "authors" as their code labels them); ``rounding`` is "paper" or "authors"
    (see the module docstring).

    Camera ids are passed through unchanged. Raises ``ValueError`` for ratios outside (0, 1], an
    unknown rounding, or a split that would leave a part empty.
    """
    for key, r in (("train_ratio", train_ratio), ("valid_ratio", valid_ratio)):
        if not 0.0 < r <= 1.0:
            raise ValueError(f"split_search_identities: {key} {r} out of range; expected 0 < ratio <= 1")
    if rounding not in SPLIT_ROUNDINGS:
        raise ValueError(f"split_search_identities: rounding {rounding!r}; expected one of {', '.join(SPLIT_ROUNDINGS)}")
    pids = sorted({it[1] for it in items}, key=natural_key)
    n = len(pids)
    if n == 0:
        raise ValueError("split_search_identities: no items to split; expected a non-empty training set")
    train_end, valid_start = _boundaries(n, train_ratio, valid_ratio, rounding)
    by_pid: Dict[Any, List[Item]] = {}
    for it in items:
        by_pid.setdefault(it[1], []).append(it)
    train, valid = [], []
    for i, pid in enumerate(pids):
        imgs = by_pid[pid]
        in_train, in_valid = i < train_end, i >= valid_start
        if in_train and in_valid and (len(imgs) > 1 or rounding == "authors"):
            half = len(imgs) // 2 if rounding == "authors" else math.ceil(len(imgs) / 2)
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
    if rounding == "authors":
        position = {pid: i for i, pid in enumerate(pids)}
        return _relabel(train, position), _relabel(valid, {p: i - valid_start for p, i in position.items()})
    return _relabel(train), _relabel(valid)
