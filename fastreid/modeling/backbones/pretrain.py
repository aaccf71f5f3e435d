"""Loading local ImageNet weights into a backbone (never downloads anything).

One loader for every backbone: it reads a ``.pth`` file (a bare state_dict or one stored under
``"state_dict"`` / ``"model"``), strips a ``module.`` prefix left by DataParallel, drops tensors whose
shape does not match, loads the rest, and logs the missing and unexpected keys.
"""

from __future__ import annotations

import logging
import os
from typing import Dict, Iterable, List, NamedTuple

import torch
import torch.nn as nn

from fastreid.utils.checkpoint import load_torch_file

__all__ = ["load_pretrained_weights", "LoadReport"]

logger = logging.getLogger(__name__)


class LoadReport(NamedTuple):
    """Keys of the model not found in the file, file keys the model has no use for, shape clashes."""

    missing: List[str]
    unexpected: List[str]
    mismatched: List[str]


def _state_dict_of(obj) -> Dict[str, torch.Tensor]:
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise TypeError(f"checkpoint holds a {type(obj).__name__}; expected a state_dict mapping")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def load_pretrained_weights(model: nn.Module, path: str, *, key_name: str = "MODEL.BACKBONE.PRETRAIN_PATH",
                            ignore_prefixes: Iterable[str] = ()) -> LoadReport:
    """Load the weights in ``path`` into ``model`` (non-strict, reported) and return what did not match.

    ``key_name`` is the config key the path came from, named in errors. File keys starting with one of
    ``ignore_prefixes`` (e.g. an ImageNet classifier ``"fc."``) are dropped silently.
    """
    if not path:
        raise ValueError(f"{key_name} is empty; MODEL.BACKBONE.PRETRAIN needs a local checkpoint file "
                         "(nothing is downloaded) or set MODEL.BACKBONE.PRETRAIN False")
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{key_name}: '{path}' does not exist; expected a local .pth checkpoint "
                                "(nothing is downloaded)")
    state = _state_dict_of(load_torch_file(path, key_name))
    prefixes = tuple(ignore_prefixes)
    state = {k: v for k, v in state.items() if not (prefixes and k.startswith(prefixes))}
    own = model.state_dict()
    mismatched = [k for k, v in state.items() if k in own and tuple(own[k].shape) != tuple(v.shape)]
    for k in mismatched:
        logger.warning("%s: skipping '%s': shape %s in file, %s in model", key_name, k,
                       tuple(state[k].shape), tuple(own[k].shape))
        del state[k]
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k not in mismatched]
    report = LoadReport(missing, list(result.unexpected_keys), mismatched)
    logger.info("Loaded %d tensors from %s into %s", len(state), path, type(model).__name__)
    if report.missing:
        logger.warning("Keys of the model missing from %s: %s", path, ", ".join(report.missing))
    if report.unexpected:
        logger.warning("Keys in %s the model does not use: %s", path, ", ".join(report.unexpected))
    return report
