"""Base class and parsing helpers shared by the dataset parsers.

Every dataset exposes three lists of ``(img_path, pid, camid)``:

- ``train``: pid and camid are strings prefixed with the dataset's ``dataset_name``
  (``"market1501_23"``, ``"market1501_0"``), so several training datasets concatenate without label
  collisions; ``CommDataset(relabel=True)`` maps them to contiguous integers.
- ``query`` / ``gallery``: integer pid and 0-based integer camid, as the evaluator needs them.

Parsing problems are reported on one line that names the dataset, the path and what was expected.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from tabulate import tabulate

from fastreid.data.image_lists import list_images
from fastreid.utils.errors import UserError

__all__ = [
    "Item", "ImageDataset", "DatasetLayoutError", "EmptyTestSetError",
    "ROOT_HINT", "find_dataset_dir", "parse_by_regex", "check_query_gallery",
    "natural_key",
]

logger = logging.getLogger(__name__)

Item = Tuple[str, Any, Any]
ROOT_HINT = "set the dataset root with DATASETS.ROOT or $FASTREID_DATASETS"
_MAX_OFFENDERS = 5


class DatasetLayoutError(UserError, FileNotFoundError):
    """A dataset folder, list file or file name does not follow the expected layout."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class EmptyTestSetError(UserError, ValueError):
    """A query set is empty or none of its images has a valid gallery match."""


def natural_key(value: Any) -> Tuple:
    """Sort key that orders ``"x_2"`` before ``"x_10"`` and ints numerically."""
    if isinstance(value, (int, float)):
        return (0, value)
    parts = re.split(r"(\d+)", str(value))
    return (1, tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts))


def find_dataset_dir(dataset: str, root: str, candidates: Sequence[str], required: Sequence[str],
                     layout: str) -> Path:
    """Return the first ``root/<candidate>`` that holds every entry of ``required``.

    ``candidates`` may contain ``""`` for ``root`` itself. Raises ``DatasetLayoutError`` naming the
    dataset, the paths tried, the expected layout and the key that sets the root.
    """
    tried = []
    for cand in candidates:
        d = Path(root) / cand if cand else Path(root)
        tried.append(str(d))
        if d.is_dir() and all((d / r).exists() for r in required):
            return d
    # name the most specific missing thing when a candidate folder exists but is incomplete
    for cand in candidates:
        d = Path(root) / cand if cand else Path(root)
        if cand and d.is_dir():
            missing = [r for r in required if not (d / r).exists()]
            raise DatasetLayoutError(
                f"{dataset}: {d} lacks {', '.join(missing)}; expected layout {layout}; {ROOT_HINT}"
            )
    raise DatasetLayoutError(
        f"{dataset}: dataset folder not found (tried {', '.join(tried)}); expected layout {layout}; {ROOT_HINT}"
    )


def parse_by_regex(dataset: str, folder: Path, pattern: str, pid_range: Tuple[int, int],
                   cam_range: Tuple[int, int]) -> List[Tuple[str, int, int]]:
    """Parse ``(path, pid, cam)`` from the file names in ``folder`` with ``pattern`` (groups pid, cam).

    ``cam`` is returned as written in the name (1-based for the public datasets). File names that do
    not match, or whose pid/cam fall outside the inclusive ranges, are reported (the first offenders
    are named) in one ``DatasetLayoutError``.
    """
    regex = re.compile(pattern)
    out, bad = [], []
    for p in map(Path, list_images(folder, recursive=False)):
        m = regex.search(p.name)
        if m is None:
            bad.append(p.name)
            continue
        pid, cam = int(m.group(1)), int(m.group(2))
        pid_ok = pid == -1 or pid_range[0] <= pid <= pid_range[1]
        if not pid_ok or not cam_range[0] <= cam <= cam_range[1]:
            bad.append(p.name)
            continue
        out.append((str(p), pid, cam))
    if bad:
        raise DatasetLayoutError(
            f"{dataset}: {len(bad)} file name(s) in {folder} do not match '{pattern}' with pid in "
            f"{list(pid_range)} and camera in {list(cam_range)}; first: {', '.join(bad[:_MAX_OFFENDERS])}"
        )
    return out


def check_query_gallery(dataset: str, query: Sequence[Item], gallery: Sequence[Item]) -> None:
    """Fail early when evaluation would be meaningless (instead of reporting a silent 0 %).

    A query counts as valid when the gallery holds its pid under another camera (the market-1501 rule
    removes same-pid same-camera entries). Raises ``EmptyTestSetError`` when the query or gallery is
    empty or no query is valid; warns when only some queries are valid.
    """
    if len(query) == 0:
        raise EmptyTestSetError(f"{dataset}: the query set is empty; expected at least one query image")
    if len(gallery) == 0:
        raise EmptyTestSetError(f"{dataset}: the gallery is empty; expected at least one gallery image")
    cams_of: Dict[Any, set] = {}
    for _, pid, camid in gallery:
        cams_of.setdefault(pid, set()).add(camid)
    valid = sum(1 for _, pid, camid in query if cams_of.get(pid, set()) - {camid})
    if valid == 0:
        raise EmptyTestSetError(
            f"{dataset}: none of the {len(query)} query images has a gallery image of the same identity "
            "under another camera; expected query and gallery to share identities across cameras "
            "(give query and gallery different camera ids when cameras are unknown)"
        )
    if valid < len(query):
        logger.warning("%s: %d of %d query images have no cross-camera gallery match and will be skipped "
                       "by the evaluator", dataset, len(query) - valid, len(query))


class ImageDataset:
    """A parsed dataset: ``train``, ``query`` and ``gallery`` lists of ``(img_path, pid, camid)``.

    Subclasses parse their layout in ``__init__(root, ...)`` and call ``super().__init__``. Class
    attributes: ``dataset_name`` (label prefix), ``_junk_pids`` (skipped by ``combine_all``),
    ``random_test_split`` (True when the query/gallery split is drawn with a seed and evaluation may be
    repeated with ``repeat=0..N-1``), ``synthetic`` (generated data; said in the statistics title).
    """

    dataset_name = "dataset"
    _junk_pids: Tuple[int, ...] = ()
    random_test_split = False
    synthetic = False

    def __init__(self, train: List[Item], query: List[Item], gallery: List[Item], *,
                 combineall: bool = False, verbose: bool = True):
        self.train = list(train)
        self.query = list(query)
        self.gallery = list(gallery)
        if combineall:
            self.combine_all()
        if verbose:
            self.log_statistics()

    @classmethod
    def kwargs_from_config(cls, cfg) -> Dict[str, Any]:
        """Constructor keyword arguments read from a config (none by default)."""
        return {}

    def prefixed(self, items: Iterable[Tuple[str, int, int]], tag: str = "") -> List[Item]:
        """Turn integer labels into training labels ``"<dataset_name>_<tag><value>"``."""
        pre = f"{self.dataset_name}_{tag}"
        return [(p, f"{pre}{pid}", f"{self.dataset_name}_{cam}") for p, pid, cam in items]

    def combine_all(self) -> None:
        """Append query and gallery (junk pids skipped) to ``train`` under ``<name>_test_<pid>`` labels."""
        extra = [it for it in self.query + self.gallery if it[1] not in self._junk_pids]
        self.train.extend(self.prefixed(extra, tag="test_"))

    @staticmethod
    def _stats(items: Sequence[Item]) -> Tuple[int, int, int]:
        return len({i[1] for i in items}), len(items), len({i[2] for i in items})

    @property
    def title(self) -> str:
        name = type(self).__name__
        return f"{name} (synthetic, generated data)" if self.synthetic else name

    def statistics_table(self) -> str:
        """A tabulate table with one row per subset: ids, images, cameras."""
        rows = [[subset, *self._stats(items)] for subset, items in
                (("train", self.train), ("query", self.query), ("gallery", self.gallery))]
        return tabulate(rows, headers=["subset", "# ids", "# images", "# cameras"], tablefmt="pipe",
                        numalign="left")

    def log_statistics(self) -> None:
        logger.info("=> Loaded %s\n%s", self.title, self.statistics_table())


def env_root() -> Optional[str]:
    """``$FASTREID_DATASETS`` when set and non-empty."""
    v = os.environ.get("FASTREID_DATASETS", "")
    return v or None
