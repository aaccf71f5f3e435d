"""VeRi-776 (Liu et al., ICME 2016) in its published layout.

``<root>/veri/`` (or ``<root>/VeRi/``) with ``image_train/``, ``image_query/`` and ``image_test/``
(gallery); file names ``0002_c002_00030600_0.jpg``: vehicle 2, camera 2 (camid 1); 20 cameras.
"""

from __future__ import annotations

from .bases import ImageDataset, find_dataset_dir, parse_by_regex
from .registry import DATASET_REGISTRY

__all__ = ["VeRi"]

_PATTERN = r"^([\d]+)_c(\d\d\d)"


@DATASET_REGISTRY.register(aliases=("VeRi776",))
class VeRi(ImageDataset):
    """VeRi-776: 776 vehicles, 20 cameras (576 train ids, 200 test ids)."""

    dataset_name = "veri"

    def __init__(self, root: str = "datasets", *, combineall: bool = False, verbose: bool = True):
        name = type(self).__name__
        subdirs = ("image_train", "image_query", "image_test")
        d = find_dataset_dir(name, root, ("veri", "VeRi", "VeRi-776"), subdirs,
                             "<root>/veri/{image_train,image_query,image_test}/VVVV_cCCC_*.jpg")
        self.dataset_dir = d
        train, query, gallery = (
            [(p, pid, cam - 1) for p, pid, cam in parse_by_regex(name, d / s, _PATTERN, (0, 9999), (1, 20))]
            for s in subdirs)
        super().__init__(self.prefixed(train), query, gallery, combineall=combineall, verbose=verbose)
