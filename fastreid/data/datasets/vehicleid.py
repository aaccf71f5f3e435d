"""VehicleID (Liu et al., CVPR 2016) with its small / medium / large test lists.

``<root>/vehicleid/`` (or ``<root>/VehicleID/``) with ``image/<imgid>.jpg`` and
``train_test_split/{train_list.txt,test_list_800.txt,test_list_1600.txt,test_list_2400.txt,
test_list_13164.txt}``; list lines read ``<imgid> <vehicle id>``. There are no camera labels: the
camid of an image is its image id, so every query/gallery pair counts as cross-camera.

Test protocol: from a test list, one image per vehicle goes to the gallery and all others to the
query. The gallery image is drawn with a seed so the split is reproducible; evaluating with
``repeat = 0..N-1`` and averaging gives the usual N-times protocol (``random_test_split`` is True for
these classes; see ``TEST.REPEATS``). Two draws (``gallery_draw``, DATASETS.VEHICLEID.GALLERY_DRAW):

- ``"numpy"``: ``numpy.random.default_rng((split_seed, repeat))`` picks one image per vehicle;
- ``"python"``: as the MSINet authors' loader draws right after ``random.seed(seed)``: Python's
  ``random.Random(split_seed + repeat).choice`` over each vehicle's images, vehicles in the order they
  first appear in the list, images in list order; with ``split_seed`` = their ``--seed`` the same gallery.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from fastreid.utils.errors import ConfigValueError

from .bases import DatasetLayoutError, ImageDataset, find_dataset_dir
from .registry import DATASET_REGISTRY

__all__ = ["VehicleID", "SmallVehicleID", "MediumVehicleID", "LargeVehicleID"]

_TEST_LISTS = (800, 1600, 2400, 13164)
GALLERY_DRAWS = ("numpy", "python")


def _read_pairs(dataset: str, list_file: Path, img_dir: Path) -> List[Tuple[str, int, int]]:
    """Read ``<imgid> <vid>`` lines into (path, vid, camid=int(imgid))."""
    if not list_file.is_file():
        raise DatasetLayoutError(f"{dataset}: list file not found: {list_file}; expected lines '<imgid> <vid>'")
    out, bad = [], []
    for n, line in enumerate(list_file.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[0].isdigit() or not parts[1].lstrip("-").isdigit():
            bad.append(f"line {n}: {line.strip()!r}")
            continue
        out.append((str(img_dir / f"{parts[0]}.jpg"), int(parts[1]), int(parts[0])))
    if bad:
        raise DatasetLayoutError(f"{dataset}: {len(bad)} malformed line(s) in {list_file}; expected "
                                 f"'<imgid> <vid>'; first: {'; '.join(bad[:5])}")
    return out


def split_one_gallery_per_id(items: List[Tuple[str, int, int]], seed: int, repeat: int, draw: str = "numpy"):
    """Draw one gallery image per id (``draw``: "numpy" or "python", see the module docstring); the rest
    are queries. Both keep the list's order."""
    by_id: Dict[int, List[int]] = {}  # in the order of first appearance
    for i, (_, vid, _) in enumerate(items):
        by_id.setdefault(vid, []).append(i)
    if draw == "python":
        py_rng = random.Random(int(seed) + int(repeat))
        chosen = {py_rng.choice(idx) for idx in by_id.values()}
    else:
        rng = np.random.default_rng((int(seed), int(repeat)))
        chosen = {idx[int(rng.integers(len(idx)))] for _, idx in sorted(by_id.items())}
    gallery = [it for i, it in enumerate(items) if i in chosen]
    query = [it for i, it in enumerate(items) if i not in chosen]
    return query, gallery


@DATASET_REGISTRY.register()
class VehicleID(ImageDataset):
    """VehicleID: 13,164 training vehicles; test lists of 800 / 1,600 / 2,400 / 13,164 vehicles.

    Args:
        root: dataset root.
        test_list: which ``test_list_<N>.txt`` to use (800, 1600, 2400 or 13164).
        split_seed, repeat: seed the gallery draw (one image per vehicle).
        gallery_draw: "numpy" or "python" (the MSINet authors' draw); see the module docstring.
    """

    dataset_name = "vehicleid"
    random_test_split = True
    default_test_list = 13164

    def __init__(self, root: str = "datasets", *, test_list: int = 0, split_seed: int = 0, repeat: int = 0,
                 gallery_draw: str = "numpy", combineall: bool = False, verbose: bool = True):
        name = type(self).__name__
        test_list = int(test_list or self.default_test_list)
        if test_list not in _TEST_LISTS:
            raise ConfigValueError(f"{name}: test_list {test_list} is not a VehicleID test list; expected one of "
                             f"{', '.join(map(str, _TEST_LISTS))}")
        if gallery_draw not in GALLERY_DRAWS:
            raise ConfigValueError(f"DATASETS.VEHICLEID.GALLERY_DRAW: {gallery_draw!r} is not a gallery draw; "
                                   f"expected one of {', '.join(GALLERY_DRAWS)}")
        d = find_dataset_dir(name, root, ("vehicleid", "VehicleID", "VehicleID_V1.0"),
                             ("image", "train_test_split/train_list.txt"),
                             "<root>/vehicleid/{image/<imgid>.jpg,train_test_split/{train_list.txt,"
                             "test_list_800.txt,...}}")
        self.dataset_dir = d
        self.test_list, self.split_seed, self.repeat, self.gallery_draw = test_list, split_seed, repeat, gallery_draw
        split = d / "train_test_split"
        train = _read_pairs(name, split / "train_list.txt", d / "image")
        test = _read_pairs(name, split / f"test_list_{test_list}.txt", d / "image")
        query, gallery = split_one_gallery_per_id(test, split_seed, repeat, gallery_draw)
        super().__init__(self.prefixed(train), query, gallery, combineall=combineall, verbose=verbose)

    @classmethod
    def kwargs_from_config(cls, cfg) -> Dict[str, Any]:
        """The gallery draw and its seed (DATASETS.VEHICLEID)."""
        v = cfg.DATASETS.VEHICLEID
        return {"gallery_draw": v.GALLERY_DRAW, "split_seed": int(v.SPLIT_SEED)}

    @property
    def title(self) -> str:
        return f"{type(self).__name__} (test list {self.test_list}, split seed {self.split_seed}, " \
               f"repeat {self.repeat}, {self.gallery_draw} draw)"


@DATASET_REGISTRY.register()
class SmallVehicleID(VehicleID):
    """VehicleID with the 800-vehicle test list."""

    default_test_list = 800


@DATASET_REGISTRY.register()
class MediumVehicleID(VehicleID):
    """VehicleID with the 1,600-vehicle test list."""

    default_test_list = 1600


@DATASET_REGISTRY.register()
class LargeVehicleID(VehicleID):
    """VehicleID with the 2,400-vehicle test list."""

    default_test_list = 2400

