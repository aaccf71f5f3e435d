"""CustomReID: bring your own data without writing code.

Configured by ``DATASETS.CUSTOM.*`` (relative paths are resolved against the dataset root). Two ways
to describe the images:

1. **Folders** (``DATASETS.CUSTOM.LIST ""``): one folder per identity, the folder name is the identity,
   the camera is the first group of ``DATASETS.CUSTOM.CAMERA_REGEX`` searched in the file name
   (``r"c(\\d+)"`` reads ``c3`` in ``0001_c3_0042.jpg``; ``""`` = cameras unknown)::

       <DIR>/<pid>/<image>                          split by identity with a seed
       <DIR>/{train,query,gallery}/<pid>/<image>    split given

   An **unlabelled** folder (for training without identity labels, ``projects/UnsupReID``): the images
   directly in ``<DIR>`` (or in ``<DIR>/train``) and no sub-folder of images. Its training items have
   identity None (unknown) and the camera from ``CAMERA_REGEX`` (0 when ``""``); query and gallery are
   empty, or, when ``<DIR>/{query,gallery}/<pid>/<image>`` exist beside a flat ``<DIR>/train``, those::

       <DIR>/<image>                                unlabelled training set, no test set
       <DIR>/train/<image>                          the same
       <DIR>/train/<image> + <DIR>/{query,gallery}/<pid>/<image>   unlabelled training, labelled test

2. **A list file** (``DATASETS.CUSTOM.LIST "labels.csv"``, relative to ``DIR``): CSV (or TSV, detected
   from a ``.tsv`` suffix or a tab in the first line) rows ``path,pid,camid[,split]``; paths relative to
   ``DIR``; an optional header row; ``split`` is ``train``, ``query`` or ``gallery``. Without a split
   column the identities are split with a seed.

Seeded split (``numpy.random.default_rng(SPLIT_SEED)``): a fraction ``TEST_RATIO`` of the identities
(sorted, then permuted) becomes the test set; per test identity ``QUERY_PER_ID`` images (from distinct
cameras where possible) go to the query and the rest to the gallery. When cameras are unknown, query
images get camid 0 and gallery images camid 1 so that every query can match its gallery images.
Identity names may be any strings; they are mapped to integers (numbers stay themselves).
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from fastreid.data.image_lists import is_image_file, list_images
from fastreid.utils.errors import ConfigValueError

from .bases import ROOT_HINT, DatasetLayoutError, ImageDataset, Item, natural_key
from .registry import DATASET_REGISTRY

__all__ = ["CustomReID"]

_SPLITS = ("train", "query", "gallery")
# path, pid name (None: unlabelled), camid or None, split or None
Raw = Tuple[str, Optional[str], Optional[int], Optional[str]]
_LAYOUTS = ("<DIR>/<pid>/<image>, <DIR>/{train,query,gallery}/<pid>/<image>, images directly in <DIR> or "
            "<DIR>/train (unlabelled), or a list file in <DIR>")


def _camera_of(f: Path, cam_re: Optional[re.Pattern]) -> Tuple[bool, Optional[int]]:
    """(found, camera) of image ``f``: the regex's first group, None when cameras are unknown."""
    if cam_re is None:
        return True, None
    m = cam_re.search(f.name)
    if m is None or not m.group(1).isdigit():
        return False, None
    return True, int(m.group(1))


def _check_cameras(name: str, base: Path, bad: List[str], cam_re: Optional[re.Pattern]) -> None:
    """One line naming the first files whose name has no camera for CAMERA_REGEX."""
    if bad:
        raise DatasetLayoutError(
            f"{name}: {len(bad)} file name(s) under {base} have no camera matching "
            f"DATASETS.CUSTOM.CAMERA_REGEX '{cam_re.pattern}'; first: {', '.join(bad[:5])} "
            "(set CAMERA_REGEX '' if cameras are unknown)")


def _folder_items(name: str, base: Path, split: Optional[str], cam_re: Optional[re.Pattern]) -> List[Raw]:
    out, bad = [], []
    for pdir in sorted((p for p in base.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
        for f in map(Path, list_images(pdir)):
            found, cam = _camera_of(f, cam_re)
            if not found:
                bad.append(str(f.relative_to(base)))
                continue
            out.append((str(f), pdir.name, cam, split))
    _check_cameras(name, base, bad, cam_re)
    if not out:
        raise DatasetLayoutError(f"{name}: no images found under {base}; expected <folder>/<pid>/<image>")
    return out


def _direct_images(folder: Path) -> List[Path]:
    """The image files directly in ``folder`` (not in its sub-folders), sorted."""
    return sorted((p for p in folder.iterdir() if p.is_file() and is_image_file(p.name)),
                  key=lambda p: natural_key(p.name))


def _holds_images(folder: Path) -> bool:
    """Whether ``folder`` or any folder below it holds an image file (stops at the first)."""
    return any(is_image_file(f) for _, _, files in os.walk(folder) for f in files)


def _is_flat(folder: Path) -> bool:
    """An unlabelled folder: image files directly in it and no sub-folder holding images."""
    return bool(_direct_images(folder)) and not any(p.is_dir() and _holds_images(p) for p in folder.iterdir())


def _flat_items(name: str, folder: Path, cam_re: Optional[re.Pattern]) -> List[Raw]:
    """Training items of an unlabelled folder: identity None, camera from the regex."""
    out, bad = [], []
    for f in _direct_images(folder):
        found, cam = _camera_of(f, cam_re)
        if not found:
            bad.append(f.name)
            continue
        out.append((str(f), None, cam, "train"))
    _check_cameras(name, folder, bad, cam_re)
    return out


def _flat_train_dir(base: Path) -> Optional[Path]:
    """The unlabelled training folder of ``base``: base itself or base/train when flat (base/train
    only when no other sub-folder but query/gallery holds images), else None."""
    if _is_flat(base):
        return base
    train = base / "train"
    if not train.is_dir() or _direct_images(base) or not _is_flat(train):
        return None
    others = [p for p in base.iterdir() if p.is_dir() and p.name not in _SPLITS and _holds_images(p)]
    return None if others else train


def _test_splits(name: str, base: Path) -> Tuple[str, ...]:
    """("query", "gallery") when both folders are beside an unlabelled base/train, () when neither."""
    present = tuple(s for s in ("query", "gallery") if (base / s).is_dir())
    if len(present) == 1:
        missing = "gallery" if present[0] == "query" else "query"
        raise DatasetLayoutError(f"{name}: {base} holds {present[0]}/ but not {missing}/ beside the "
                                 "unlabelled train/; expected both {query,gallery}/<pid>/<image> or neither")
    return present


def _layout_items(name: str, base: Path, cam_re: Optional[re.Pattern]) -> List[Raw]:
    """The folder layouts (no list file): an unlabelled (flat) training set with or without a labelled
    test set, the given split, or identity folders."""
    if not _holds_images(base):
        raise DatasetLayoutError(f"{name}: no images found under {base} (DATASETS.CUSTOM.DIR); "
                                 f"expected {_LAYOUTS}")
    flat = _flat_train_dir(base)
    if flat is not None:
        tests = _test_splits(name, base) if flat != base else ()
        labelled = [r for s in tests for r in _folder_items(name, base / s, s, cam_re)]
        return _flat_items(name, flat, cam_re) + labelled
    if all((base / s).is_dir() for s in _SPLITS):
        return [r for s in _SPLITS for r in _folder_items(name, base / s, s, cam_re)]
    return _folder_items(name, base, None, cam_re)


_HEADER_WORDS = {"path", "img", "image", "img_path", "image_path", "file", "filename", "pid", "id", "identity",
                 "person", "camid", "cam", "camera", "split"}


def _is_header(row: List[str]) -> bool:
    """A first row is a header when it names columns (path / pid / camid ...), not when its camera is
    text: such a data row is reported as malformed instead of being dropped silently."""
    return sum(c.strip().lower() in _HEADER_WORDS for c in row[:4]) >= 2


def _list_items(name: str, list_file: Path, base: Path) -> List[Raw]:
    if not list_file.is_file():
        raise DatasetLayoutError(f"{name}: list file not found: {list_file}; expected rows "
                                 f"'path,pid,camid[,split]' (DATASETS.CUSTOM.LIST)")
    text = list_file.read_text()
    first = text.splitlines()[0] if text else ""
    delim = "\t" if list_file.suffix.lower() == ".tsv" or "\t" in first else ","
    out, bad, missing = [], [], []
    for n, row in enumerate(csv.reader(text.splitlines(), delimiter=delim), 1):
        row = [c.strip() for c in row]
        if not row or not any(row):
            continue
        if n == 1 and len(row) >= 3 and _is_header(row):
            continue
        split = row[3].lower() if len(row) >= 4 and row[3] else None
        if len(row) not in (3, 4) or not row[2].lstrip("-").isdigit() or (split and split not in _SPLITS):
            bad.append(f"line {n}: {delim.join(row)!r}")
            continue
        path = Path(row[0]) if Path(row[0]).is_absolute() else base / row[0]
        if not path.is_file():
            missing.append(str(path))
        out.append((str(path), row[1], int(row[2]), split))
    if bad:
        raise DatasetLayoutError(f"{name}: {len(bad)} malformed row(s) in {list_file}; expected "
                                 f"'path,pid,camid[,split]' with split in train/query/gallery; first: "
                                 f"{'; '.join(bad[:5])}")
    if missing:
        raise DatasetLayoutError(f"{name}: {len(missing)} image(s) listed in {list_file} do not exist; first: "
                                 f"{', '.join(missing[:5])}")
    if not out:
        raise DatasetLayoutError(f"{name}: {list_file} lists no images")
    given = {r[3] is not None for r in out}
    if len(given) > 1:
        raise DatasetLayoutError(f"{name}: {list_file} gives a split column on some rows only; expected it on "
                                 "every row or on none")
    return out


def _seeded_split(raw: List[Raw], test_ratio: float, query_per_id: int, seed: int) -> List[Raw]:
    """Assign train/query/gallery by identity with ``default_rng(seed)``."""
    rng = np.random.default_rng(int(seed))
    pids = sorted({r[1] for r in raw}, key=natural_key)
    n_test = int(round(test_ratio * len(pids)))
    n_test = min(max(n_test, 1 if test_ratio > 0 else 0), len(pids) - 1 if test_ratio < 1 else len(pids))
    test_pids = {pids[i] for i in rng.permutation(len(pids))[:n_test]}
    by_pid: Dict[str, List[int]] = {}
    for i, r in enumerate(raw):
        by_pid.setdefault(r[1], []).append(i)
    split = ["train"] * len(raw)
    for pid in pids:
        if pid not in test_pids:
            continue
        idx = [by_pid[pid][j] for j in rng.permutation(len(by_pid[pid]))]
        for i in idx:
            split[i] = "gallery"
        n_query = min(query_per_id, len(idx) - 1)
        chosen: List[int] = []
        cams: set = set()
        for i in idx:  # distinct cameras first
            if len(chosen) < n_query and raw[i][2] not in cams:
                chosen.append(i)
                cams.add(raw[i][2])
        for i in idx:  # then fill up
            if len(chosen) < n_query and i not in chosen:
                chosen.append(i)
        for i in chosen:
            split[i] = "query"
    return [(p, pid, cam, s) for (p, pid, cam, _), s in zip(raw, split)]


@DATASET_REGISTRY.register(aliases=("Custom",))
class CustomReID(ImageDataset):
    """A user's dataset described by folders or a CSV/TSV list (see the module docstring)."""

    dataset_name = "custom"

    def __init__(self, root: str = "datasets", *, data_dir: str = "", list_file: str = "",
                 camera_regex: str = r"c(\d+)", test_ratio: float = 0.5, query_per_id: int = 1,
                 split_seed: int = 0, combineall: bool = False, verbose: bool = True):
        name = type(self).__name__
        if not data_dir:
            raise DatasetLayoutError(f"{name}: DATASETS.CUSTOM.DIR is empty; expected the folder of your dataset "
                                     f"(absolute, or relative to the dataset root {root})")
        base = Path(data_dir) if Path(data_dir).is_absolute() else Path(root) / data_dir
        if not base.is_dir():
            raise DatasetLayoutError(f"{name}: folder not found: {base}; expected {_LAYOUTS} "
                                     f"(DATASETS.CUSTOM.DIR; {ROOT_HINT})")
        if not 0.0 <= test_ratio <= 1.0:
            raise ConfigValueError(f"{name}: DATASETS.CUSTOM.TEST_RATIO {test_ratio} is not a fraction; expected 0..1")
        self.dataset_dir = base
        if list_file:
            lf = Path(list_file) if Path(list_file).is_absolute() else base / list_file
            raw = _list_items(name, lf, base)
        else:
            raw = _layout_items(name, base, re.compile(camera_regex) if camera_regex else None)
        if raw[0][3] is None:
            raw = _seeded_split(raw, test_ratio, query_per_id, split_seed)
        train, query, gallery = self._to_items(raw)
        super().__init__(self.prefixed(train), query, gallery, combineall=combineall, verbose=verbose)

    def prefixed(self, items, tag: str = "") -> List[Item]:
        """As :meth:`ImageDataset.prefixed`, but an unknown identity (an unlabelled folder) stays None."""
        items = list(items)
        return [(p, None if it[1] is None else pid, cam)
                for it, (p, pid, cam) in zip(items, super().prefixed(items, tag))]

    @staticmethod
    def _stats(items) -> Tuple[int, int, int]:
        """(identities, images, cameras); unknown identities (None) are not counted as one."""
        return len({i[1] for i in items if i[1] is not None}), len(items), len({i[2] for i in items})

    @staticmethod
    def _to_items(raw: List[Raw]):
        names = sorted({r[1] for r in raw if r[1] is not None}, key=natural_key)
        numeric = all(n.isdigit() for n in names)
        pid_of: Dict[Optional[str], Optional[int]] = {None: None}
        pid_of.update({n: (int(n) if numeric else i) for i, n in enumerate(names)})
        unknown_cams = raw[0][2] is None
        out: Dict[str, List[Tuple[str, int, int]]] = {s: [] for s in _SPLITS}
        for path, pid, cam, split in raw:
            if unknown_cams:
                cam = 1 if split == "gallery" else 0
            out[split].append((path, pid_of[pid], cam))
        return out["train"], out["query"], out["gallery"]

    @classmethod
    def kwargs_from_config(cls, cfg) -> Dict[str, Any]:
        c = cfg.DATASETS.CUSTOM
        return dict(data_dir=c.DIR, list_file=c.LIST, camera_regex=c.CAMERA_REGEX, test_ratio=c.TEST_RATIO,
                    query_per_id=c.QUERY_PER_ID, split_seed=c.SPLIT_SEED)
