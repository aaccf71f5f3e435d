"""CustomReID: bring your own data without writing code.

Configured by ``DATASETS.CUSTOM.*`` (relative paths are resolved against the dataset root). Two ways
to describe the images:

1. **Folders** (``DATASETS.CUSTOM.LIST ""``): one folder per identity, the folder name is the identity,
   the camera is the first group of ``DATASETS.CUSTOM.CAMERA_REGEX`` searched in the file name
   (``r"c(\\d+)"`` reads ``c3`` in ``0001_c3_0042.jpg``; ``""`` = cameras unknown)::

       <DIR>/<pid>/<image>                          split by identity with a seed
       <DIR>/{train,query,gallery}/<pid>/<image>    split given

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
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from fastreid.data.image_lists import list_images
from fastreid.utils.errors import ConfigValueError

from .bases import ROOT_HINT, DatasetLayoutError, ImageDataset, natural_key
from .registry import DATASET_REGISTRY

__all__ = ["CustomReID"]

_SPLITS = ("train", "query", "gallery")
Raw = Tuple[str, str, Optional[int], Optional[str]]  # path, pid name, camid or None, split or None


def _folder_items(name: str, base: Path, split: Optional[str], cam_re: Optional[re.Pattern]) -> List[Raw]:
    out, bad = [], []
    for pdir in sorted((p for p in base.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
        for f in map(Path, list_images(pdir)):
            cam = None
            if cam_re is not None:
                m = cam_re.search(f.name)
                if m is None or not m.group(1).isdigit():
                    bad.append(str(f.relative_to(base)))
                    continue
                cam = int(m.group(1))
            out.append((str(f), pdir.name, cam, split))
    if bad:
        raise DatasetLayoutError(
            f"{name}: {len(bad)} file name(s) under {base} have no camera matching DATASETS.CUSTOM.CAMERA_REGEX "
            f"'{cam_re.pattern}'; first: {', '.join(bad[:5])} (set CAMERA_REGEX '' if cameras are unknown)")
    if not out:
        raise DatasetLayoutError(f"{name}: no images found under {base}; expected <folder>/<pid>/<image>")
    return out


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
            raise DatasetLayoutError(f"{name}: folder not found: {base}; expected <DIR>/<pid>/<image>, "
                                     f"<DIR>/{{train,query,gallery}}/<pid>/<image> or a list file in <DIR> "
                                     f"(DATASETS.CUSTOM.DIR; {ROOT_HINT})")
        if not 0.0 <= test_ratio <= 1.0:
            raise ConfigValueError(f"{name}: DATASETS.CUSTOM.TEST_RATIO {test_ratio} is not a fraction; expected 0..1")
        self.dataset_dir = base
        if list_file:
            lf = Path(list_file) if Path(list_file).is_absolute() else base / list_file
            raw = _list_items(name, lf, base)
        else:
            cam_re = re.compile(camera_regex) if camera_regex else None
            if all((base / s).is_dir() for s in _SPLITS):
                raw = [r for s in _SPLITS for r in _folder_items(name, base / s, s, cam_re)]
            else:
                raw = _folder_items(name, base, None, cam_re)
        if raw[0][3] is None:
            raw = _seeded_split(raw, test_ratio, query_per_id, split_seed)
        train, query, gallery = self._to_items(raw)
        super().__init__(self.prefixed(train), query, gallery, combineall=combineall, verbose=verbose)

    @staticmethod
    def _to_items(raw: List[Raw]):
        names = sorted({r[1] for r in raw}, key=natural_key)
        numeric = all(n.isdigit() for n in names)
        pid_of: Dict[str, int] = {n: (int(n) if numeric else i) for i, n in enumerate(names)}
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
