"""MSMT17 (Wei et al., CVPR 2018) in its V1 and V2 layouts.

``<root>/MSMT17_V1/`` with image folders ``train/`` and ``test/``, or ``<root>/MSMT17_V2/`` with
``mask_train_v2/`` and ``mask_test_v2/`` (faces blurred); ``<root>/msmt17/MSMT17_V*`` also works.
Each holds ``list_train.txt``, ``list_val.txt``, ``list_query.txt`` and ``list_gallery.txt`` whose
lines read ``<relative image path> <pid>``, e.g. ``0000/0000_000_01_0303morning_0015_0.jpg 0``; the
camera is the third ``_`` field of the file name (``01`` -> camid 0). The training set is the train
list plus the val list (32,621 images, 1,041 ids); query 11,659, gallery 82,161 images (3,060 ids).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from .bases import DatasetLayoutError, ImageDataset, find_dataset_dir
from .registry import DATASET_REGISTRY

__all__ = ["MSMT17"]

_LISTS = ("list_train.txt", "list_val.txt", "list_query.txt", "list_gallery.txt")
_VERSIONS = {"MSMT17_V1": ("train", "test"), "MSMT17_V2": ("mask_train_v2", "mask_test_v2")}


def _read_list(dataset: str, list_file: Path, img_dir: Path) -> List[Tuple[str, int, int]]:
    """Parse one MSMT17 list file into (absolute path, pid, camid)."""
    out, bad, missing = [], [], []
    for n, line in enumerate(list_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            rel, pid = parts[0], int(parts[1])
            cam = int(Path(rel).name.split("_")[2])
        except (IndexError, ValueError):
            bad.append(f"line {n}: {line.strip()!r}")
            continue
        path = img_dir / rel
        if not path.is_file():
            missing.append(str(path))
        out.append((str(path), pid, cam - 1))
    if bad:
        raise DatasetLayoutError(
            f"{dataset}: {len(bad)} malformed line(s) in {list_file}; expected '<pid>/<pid>_<idx>_<cam>_... .jpg "
            f"<pid>'; first: {'; '.join(bad[:5])}")
    if missing:
        raise DatasetLayoutError(
            f"{dataset}: {len(missing)} image(s) listed in {list_file} are missing; first: {', '.join(missing[:5])}")
    return out


@DATASET_REGISTRY.register()
class MSMT17(ImageDataset):
    """MSMT17: 4,101 identities, 15 cameras; V1 or V2 layout detected automatically."""

    dataset_name = "msmt17"

    def __init__(self, root: str = "datasets", *, combineall: bool = False, verbose: bool = True):
        name = type(self).__name__
        candidates, required = [], {}
        for version in _VERSIONS:
            for prefix in ("", "msmt17/", "MSMT17/"):
                candidates.append(prefix + version)
                required[prefix + version] = _VERSIONS[version] + _LISTS
        layout = ("<root>/MSMT17_V1/{train,test,list_train.txt,list_val.txt,list_query.txt,list_gallery.txt} "
                  "or <root>/MSMT17_V2/{mask_train_v2,mask_test_v2,list_*.txt}")
        d = None
        for cand in candidates:  # V1 before V2, each with all its files
            p = Path(root) / cand
            if p.is_dir() and all((p / r).exists() for r in required[cand]):
                d = p
                break
        if d is None:
            existing = [c for c in candidates if (Path(root) / c).is_dir()]
            if existing:
                find_dataset_dir(name, root, existing[:1], required[existing[0]], layout)
            find_dataset_dir(name, root, candidates, (), layout)
        self.dataset_dir = d
        train_dir, test_dir = (d / s for s in _VERSIONS[d.name])
        train = _read_list(name, d / "list_train.txt", train_dir) + _read_list(name, d / "list_val.txt", train_dir)
        query = _read_list(name, d / "list_query.txt", test_dir)
        gallery = _read_list(name, d / "list_gallery.txt", test_dir)
        super().__init__(self.prefixed(train), query, gallery, combineall=combineall, verbose=verbose)
