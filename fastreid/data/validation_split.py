"""A validation split of the training identities, for choices that must not see the test split.

:func:`write_validation_split` holds out a seeded share of the training identities and writes the
result as a ``CustomReID`` list (``DATASETS.CUSTOM.LIST``, see :mod:`fastreid.data.datasets.custom`):
the remaining identities train, the held-out ones become query and gallery. Tuning a learning rate or
comparing design options on it leaves the test split unseen (``msinet/compare.py`` does both).
"""

from __future__ import annotations

import csv
import os
import random
from typing import Any, Dict, List, Sequence, Tuple

from fastreid.utils.file_io import atomic_open

__all__ = ["write_validation_split"]


def write_validation_split(items: Sequence[Tuple[str, Any, Any]], ratio: float, path: str,
                           seed: int = 0) -> Dict[str, int]:
    """Carve a validation protocol out of training ``items`` ``(path, pid, camid)`` and write it to
    ``path`` as a ``CustomReID`` list (``path,pid,camid,split``, absolute image paths), atomically.

    ``round(ratio * P)`` identities (at least one, drawn with ``seed``) are held out; each held-out
    identity seen by two or more cameras gives the images of its first camera as queries and the
    rest as gallery, one seen by a single camera goes to the gallery as a distractor. Returns the counts
    of images (``train``, ``query``, ``gallery``) and identities (``train_ids``, ``valid_ids``).
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"validation ratio {ratio}: expected a fraction strictly between 0 and 1")
    pids = sorted({it[1] for it in items}, key=str)
    n_val = min(max(1, round(ratio * len(pids))), len(pids) - 1)
    held = set(random.Random(seed).sample(pids, n_val))
    by_pid: Dict[Any, List[Tuple[str, Any, Any]]] = {}
    for it in items:
        by_pid.setdefault(it[1], []).append(it)
    # training items carry dataset-prefixed labels ("pku_0"); the list wants integer camera ids
    cam_index = {c: i for i, c in enumerate(sorted({it[2] for it in items}, key=str))}
    rows, counts = [], {"train": 0, "query": 0, "gallery": 0, "train_ids": len(pids) - n_val, "valid_ids": n_val}
    for pid in pids:
        imgs = by_pid[pid]
        cams = sorted({c for _, _, c in imgs})
        for p, _, c in imgs:
            if pid not in held:
                split = "train"
            else:
                split = "query" if len(cams) > 1 and c == cams[0] else "gallery"
            counts[split] += 1
            rows.append((os.path.abspath(p), str(pid), cam_index[c], split))
    if counts["query"] == 0:
        raise ValueError("validation split: no held-out identity is seen by two cameras; expected cross-camera "
                         "identities to form queries")
    with atomic_open(path) as f:
        csv.writer(f).writerows(rows)
    return counts
