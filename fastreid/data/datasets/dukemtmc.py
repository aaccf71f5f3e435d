"""DukeMTMC-reID (Ristani et al. 2016; Zheng et al. 2017) in its published layout.

``<root>/DukeMTMC-reID/{bounding_box_train,query,bounding_box_test}/0005_c2_f0046985.jpg``
(pid 5, camera 2 -> camid 1); 8 cameras, 702 train ids, 1,110 test ids (408 gallery distractors).
"""

from __future__ import annotations

from .bases import ImageDataset
from .market1501 import parse_market_style
from .registry import DATASET_REGISTRY

__all__ = ["DukeMTMC"]


@DATASET_REGISTRY.register(aliases=("DukeMTMC-reID",))
class DukeMTMC(ImageDataset):
    """DukeMTMC-reID: 8 cameras, Market-1501-style file names."""

    dataset_name = "dukemtmc"

    def __init__(self, root: str = "datasets", *, combineall: bool = False, verbose: bool = True):
        self.dataset_dir, train, query, gallery = parse_market_style(
            type(self).__name__, root, ("DukeMTMC-reID", "dukemtmc-reid", "dukemtmc"), pid_max=9999, cam_max=8)
        super().__init__(self.prefixed(train), query, gallery, combineall=combineall, verbose=verbose)
