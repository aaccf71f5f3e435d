"""PKU-Reid subset (Ma et al., arXiv:1605.02464; CC BY-NC-SA 4.0): real pedestrians from 2 cameras.

``<root>/pku-reid-subset/images/<pid>/<cam>_<orientation>.png`` (also ``<root>/images/...``), 74
identities x 16 images of 48 x 128 pixels (W x H); ``<cam>`` is ``01`` or ``02``, ``<orientation>`` 1..8.

Protocol (the folder's README): identity folders sorted by name; the first 40 are the training set
(640 images, both cameras); of the other 34, every camera-01 image is a query (272) and every
camera-02 image is in the gallery (272).
"""

from __future__ import annotations

import re
from pathlib import Path

from fastreid.data.image_lists import list_images

from .bases import DatasetLayoutError, ImageDataset, find_dataset_dir
from .registry import DATASET_REGISTRY

__all__ = ["PKUReIDSubset"]

_NAME = re.compile(r"^(\d{2})_(\d)\.png$")


@DATASET_REGISTRY.register(aliases=("PKUReID", "pku-reid-subset"))
class PKUReIDSubset(ImageDataset):
    """PKU-Reid subset: 40 training identities, 34 test identities (query camera 01, gallery camera 02)."""

    dataset_name = "pku"
    num_train_ids = 40

    def __init__(self, root: str = "datasets", *, combineall: bool = False, verbose: bool = True):
        name = type(self).__name__
        d = find_dataset_dir(name, root, ("pku-reid-subset", "PKUReIDSubset", ""), ("images",),
                             "<root>/pku-reid-subset/images/<pid>/<cam>_<orientation>.png")
        self.dataset_dir = d
        id_dirs = sorted((p for p in (d / "images").iterdir() if p.is_dir()), key=lambda p: p.name)
        bad_dirs = [p.name for p in id_dirs if not p.name.isdigit()]
        if bad_dirs or len(id_dirs) <= self.num_train_ids:
            raise DatasetLayoutError(
                f"{name}: {d / 'images'} must hold more than {self.num_train_ids} numeric identity folders; "
                f"found {len(id_dirs)}" + (f", non-numeric: {', '.join(bad_dirs[:5])}" if bad_dirs else ""))
        train, query, gallery, bad = [], [], [], []
        for i, pdir in enumerate(id_dirs):
            pid = int(pdir.name)
            for f in map(Path, list_images(pdir, recursive=False)):
                m = _NAME.match(f.name)
                if m is None or m.group(1) not in ("01", "02"):
                    bad.append(f"{pdir.name}/{f.name}")
                    continue
                camid = int(m.group(1)) - 1
                if i < self.num_train_ids:
                    train.append((str(f), pid, camid))
                else:
                    (query if camid == 0 else gallery).append((str(f), pid, camid))
        if bad:
            raise DatasetLayoutError(f"{name}: {len(bad)} file name(s) do not match '<01|02>_<orientation>.png'; "
                                     f"first: {', '.join(bad[:5])}")
        super().__init__(self.prefixed(train), query, gallery, combineall=combineall, verbose=verbose)
