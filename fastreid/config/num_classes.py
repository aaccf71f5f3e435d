"""MODEL.HEADS.NUM_CLASSES 0 means "fill it in": the one function that does.

A training YAML usually leaves the class count at 0; whoever builds the model knows it: the trainer
from the training set's identities, evaluation and the predictor from the count a checkpoint records
(:func:`fill_num_classes_from_checkpoint`),
an untrained network for inference from nothing (its classifier is unused, one class will do). Each
passes that count to :func:`fill_num_classes`, which keeps a count the config states, fills in a 0, and
stops with one line naming the key when neither gives a usable count.
"""

from __future__ import annotations

import logging
from typing import Callable, Union

from fastreid.utils.errors import ConfigValueError

from .config import CfgNode

__all__ = ["fill_num_classes", "fill_num_classes_from_checkpoint", "KEY"]

logger = logging.getLogger(__name__)

KEY = "MODEL.HEADS.NUM_CLASSES"


def fill_num_classes(cfg: CfgNode, count: Union[int, Callable[[], int]], source: str, hint: str = "") -> CfgNode:
    """``cfg`` with MODEL.HEADS.NUM_CLASSES filled in from ``count`` when it says 0.

    Args:
        cfg: the config (frozen or not); returned as it is when it states a count > 0.
        count: the class count ``source`` gives (0 or less: it gives none), or a function returning it,
            called only when the config says 0 (reading a checkpoint is not free).
        source: where ``count`` comes from, for the log and the error, e.g. ``"the training set"`` or
            ``"checkpoint model_final.pth"``.
        hint: appended to the error's "expected ..." (another way to a count).

    Returns:
        ``cfg`` itself, or a copy (frozen as ``cfg`` was) with the key set to ``count``.

    Raises:
        ConfigValueError: the key is negative or not an integer, or it is 0 and ``count`` < 1.
    """
    have = cfg.MODEL.HEADS.NUM_CLASSES
    if isinstance(have, bool) or not isinstance(have, int) or have < 0:
        raise ConfigValueError(f"{KEY}: {have!r}; expected a class count > 0, or 0 to take it from the training "
                               "set or the checkpoint", key=KEY, value=have, expected=">= 0")
    if have > 0:
        return cfg
    if callable(count):
        count = count()
    if int(count) < 1:
        raise ConfigValueError(f"{KEY} is 0 and {source} gives no class count ({count}); expected {KEY} > 0 "
                               f"in the config{hint}", key=KEY, value=have, expected="> 0")
    filled = cfg.clone()
    filled.defrost()
    filled.MODEL.HEADS.NUM_CLASSES = int(count)
    if cfg.is_frozen():
        filled.freeze()
    logger.info("%s set to %d from %s", KEY, int(count), source)
    return filled


def fill_num_classes_from_checkpoint(cfg: CfgNode, path: str) -> CfgNode:
    """:func:`fill_num_classes` with the count checkpoint ``path`` records (read only when the config
    says 0): what evaluation and the predictor do before loading ``path`` strictly."""
    from fastreid.utils.checkpoint import num_classes_in_checkpoint

    return fill_num_classes(cfg, lambda: num_classes_in_checkpoint(path), f"checkpoint {path}",
                            hint=", e.g. from the config.yaml written beside the checkpoint")
