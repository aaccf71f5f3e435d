"""Configuration: the defaults tree, ``_BASE_`` inheritance, ``get_cfg()`` and ``load_config()`` (defaults,
projects' keys, a YAML, overrides), and filling in
MODEL.HEADS.NUM_CLASSES 0 (``fill_num_classes``)."""

from .config import BASE_KEY, CfgNode, ConfigError, allow_any_type, get_cfg, load_config
from .num_classes import fill_num_classes, fill_num_classes_from_checkpoint

__all__ = ["CfgNode", "ConfigError", "get_cfg", "load_config", "BASE_KEY", "allow_any_type", "fill_num_classes",
           "fill_num_classes_from_checkpoint"]
