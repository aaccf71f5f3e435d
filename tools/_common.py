"""Pieces shared by the command-line tools: config + weights from the command line, the features
file format, and one-line error reporting.

Not a tool itself. The tools import it as ``_common`` (their own folder is on ``sys.path`` when run as
``python tools/<tool>.py``).

Features file (``.npz``, written by ``tools/extract_features.py``):
    paths (N,) str, features (N, D) float32 L2-normalised, size_hw (2,) int;
    optionally pids (N,) int, camids (N,) int and num_query () int when extracted from a dataset
    (the first num_query rows are the query set, the rest the gallery).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from fastreid.utils.file_io import atomic_open

__all__ = [
    "ToolError",
    "add_model_arguments",
    "setup_logging",
    "load_cfg",
    "build_predictor",
    "read_image_list",
    "collect_images",
    "save_features",
    "load_features",
    "cli_errors",
]

logger = logging.getLogger("fastreid.tools")


class ToolError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""


def setup_logging(verbose: bool = False) -> None:
    """INFO (or DEBUG) logging to stderr with a short timestamped format."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="[%(asctime)s %(name)s] %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )


def add_model_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """--config-file, --weights, --random-weights, --device and trailing KEY VALUE overrides."""
    parser.add_argument("--config-file", required=required, metavar="FILE", help="YAML config of the model")
    parser.add_argument("--weights", default="", metavar="FILE",
                        help="checkpoint to load (overrides MODEL.WEIGHTS)")
    parser.add_argument("--random-weights", action="store_true",
                        help="allow running without weights (an untrained network; for smoke tests)")
    parser.add_argument("--device", default="", help="torch device, e.g. cpu or cuda (default: the config's)")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], metavar="KEY VALUE",
                        help="config overrides, e.g. --opts INPUT.SIZE_TEST 256,128 TEST.FLIP.ENABLED True")


def load_cfg(config_file: str, weights: str = "", opts: Sequence[str] = (), device: str = "",
             random_weights: bool = False):
    """The frozen config of a model: defaults + ``config_file`` + ``opts`` + weights / device.

    ImageNet pre-training is switched off (the checkpoint replaces it). Without weights (from
    ``weights`` or MODEL.WEIGHTS) this is an error unless ``random_weights``.
    """
    from fastreid.config import get_cfg

    if not os.path.isfile(config_file):
        raise ToolError(f"--config-file: file not found: {config_file}")
    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    if weights:
        cfg.MODEL.WEIGHTS = weights
    if device:
        cfg.MODEL.DEVICE = device
    cfg.MODEL.BACKBONE.PRETRAIN = False
    if cfg.MODEL.WEIGHTS and not os.path.isfile(cfg.MODEL.WEIGHTS):
        raise ToolError(f"weights: checkpoint file not found: {cfg.MODEL.WEIGHTS}")
    if not cfg.MODEL.WEIGHTS and not random_weights:
        raise ToolError(
            f"{config_file}: no weights (MODEL.WEIGHTS is empty); pass --weights FILE, "
            "or --random-weights to use an untrained network"
        )
    cfg.freeze()
    return cfg


def build_predictor(args: argparse.Namespace):
    """A DefaultPredictor from the arguments of :func:`add_model_arguments`."""
    from fastreid.engine.predictor import DefaultPredictor

    cfg = load_cfg(args.config_file, args.weights, args.opts, args.device, args.random_weights)
    return DefaultPredictor(cfg)


def read_image_list(list_file: str) -> List[str]:
    """Image paths from a text file, one per line; blank lines and ``#`` comments are skipped and
    relative paths are taken relative to the list file's folder."""
    base = os.path.dirname(os.path.abspath(list_file))
    paths = []
    with open(list_file) as f:
        for lineno, line in enumerate(f, start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            path = line if os.path.isabs(line) else os.path.join(base, line)
            if not os.path.isfile(path):
                raise ToolError(f"{list_file}:{lineno}: image file not found: {line}")
            paths.append(path)
    return paths


def collect_images(inputs: Sequence[str], what: str = "--input") -> List[str]:
    """Image paths from a mix of image files, folders (searched recursively) and ``.txt`` list files."""
    from fastreid.engine.predictor import IMAGE_EXTENSIONS, list_images

    paths: List[str] = []
    for item in inputs:
        if os.path.isdir(item):
            paths.extend(list_images(item))
        elif os.path.isfile(item) and item.lower().endswith(".txt"):
            paths.extend(read_image_list(item))
        elif os.path.isfile(item):
            if not item.lower().endswith(IMAGE_EXTENSIONS):
                raise ToolError(f"{what}: '{item}' is not an image file; expected one of {IMAGE_EXTENSIONS}")
            paths.append(item)
        else:
            raise ToolError(f"{what}: no such file or folder: {item}")
    if not paths:
        raise ToolError(f"{what}: no images found in {list(inputs)}")
    return paths


def save_features(path: str, paths: Sequence[str], features: np.ndarray, size_hw: Sequence[int],
                  pids: Optional[Sequence[int]] = None, camids: Optional[Sequence[int]] = None,
                  num_query: Optional[int] = None) -> None:
    """Write a features file (format in the module docstring)."""
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


def load_features(path: str, require: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """Read a features file; ``require`` names keys that must be present (a clear error otherwise)."""
    if not os.path.isfile(path):
        raise ToolError(f"features file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {k: data[k] for k in data.files}
    except (ValueError, OSError) as e:
        raise ToolError(f"{path}: not a features .npz file ({e})") from e
    for key in ("paths", "features", *require):
        if key not in out:
            hint = " (extract with --dataset NAME to store identities)" if key in ("pids", "camids") else ""
            raise ToolError(f"{path}: features file has no '{key}' array{hint}; it has {sorted(out)}")
    return out


def cli_errors(main: Callable[[Optional[List[str]]], int]) -> Callable[[Optional[List[str]]], int]:
    """Turn user-input errors raised inside ``main`` into ``SystemExit("error: <one line>")``."""
    from fastreid.utils.errors import exit_on_user_error

    @functools.wraps(main)
    def wrapper(argv: Optional[List[str]] = None) -> int:
        with exit_on_user_error(extra=(ToolError,)):
            return main(argv)

    return wrapper
