"""Configuration: the defaults tree, ``_BASE_`` inheritance and ``get_cfg()``, and filling in
MODEL.HEADS.NUM_CLASSES 0 (``fill_num_classes``)."""

from .config import BASE_KEY, CfgNode, ConfigError, allow_any_type, get_cfg
from .num_classes import fill_num_classes, fill_num_classes_from_checkpoint

__all__ = ["CfgNode", "ConfigError", "get_cfg", "BASE_KEY", "allow_any_type", "fill_num_classes",
           "fill_num_classes_from_checkpoint"]
