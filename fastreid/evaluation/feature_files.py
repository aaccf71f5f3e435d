"""The features file (``.npz``) written by ``tools/extract_features.py`` and read (as a
:class:`FeaturesFile`) by ``tools/query.py`` and ``tools/visualize_ranks.py``:

    paths (N,) str, features (N, D) float32 L2-normalised, size_hw (2,) int;
    optionally pids (N,) int, camids (N,) int and num_query () int when extracted from a dataset
    (the first num_query rows are the query set, the rest the gallery).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from fastreid.utils.errors import ToolError
from fastreid.utils.file_io import atomic_open

__all__ = ["save_features", "load_features", "FeaturesFile"]


def save_features(path: str, paths: Sequence[str], features: np.ndarray, size_hw: Sequence[int],
                  pids: Optional[Sequence[int]] = None, camids: Optional[Sequence[int]] = None,
                  num_query: Optional[int] = None) -> None:
    """Write a features file (format in the module docstring), atomically."""
    arrays: Dict[str, np.ndarray] = {
        "paths": np.asarray([str(p) for p in paths]),
        "features": np.asarray(features, dtype=np.float32),
        "size_hw": np.asarray(size_hw, dtype=np.int64),
    }
    if pids is not None:
        arrays["pids"] = np.asarray(pids, dtype=np.int64)
        arrays["camids"] = np.asarray(camids, dtype=np.int64)
        arrays["num_query"] = np.asarray(num_query, dtype=np.int64)
    with atomic_open(path, "wb") as f:  # a file object keeps numpy from appending ".npz" to the name
        np.savez(f, **arrays)


@dataclass(frozen=True)
class FeaturesFile:
    """What a features file holds (the module docstring's arrays, by name): ``features`` ``(N, D)``
    float32, ``paths`` and ``size_hw`` (height, width) of extraction; with identities (extracted from a
    dataset) ``pids`` and ``camids`` ``(N,)`` int64 and ``num_query`` (the first rows are the query set),
    else None."""

    paths: List[str]
    features: np.ndarray
    size_hw: Tuple[int, int]
    pids: Optional[np.ndarray] = None
    camids: Optional[np.ndarray] = None
    num_query: Optional[int] = None


def load_features(path: str, require: Sequence[str] = ()) -> FeaturesFile:
    """Read a features file; ``require`` names arrays that must be present (``"pids"``, ``"camids"``,
    ``"num_query"``: a clear error otherwise)."""
    if not os.path.isfile(path):
        raise ToolError(f"features file not found: {path}")
    expected = "expected the .npz file written by tools/extract_features.py"
    if not zipfile.is_zipfile(path):
        raise ToolError(f"{path}: not a features file (not an .npz archive); {expected}")
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {k: data[k] for k in data.files}
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        reason = "it holds Python objects" if "allow_pickle" in str(e) else str(e).splitlines()[0][:200]
        raise ToolError(f"{path}: not a features file ({reason}); {expected}") from None
    for key in ("paths", "features", "size_hw", *require):
        if key not in out:
            hint = " (extract with --dataset NAME to store identities)" if key in ("pids", "camids") else ""
            raise ToolError(f"{path}: features file has no '{key}' array{hint}; it has {sorted(out)}")
    return FeaturesFile(paths=[str(p) for p in out["paths"]], features=out["features"],
                        size_hw=(int(out["size_hw"][0]), int(out["size_hw"][1])), pids=out.get("pids"),
                        camids=out.get("camids"),
                        num_query=int(out["num_query"]) if "num_query" in out else None)
