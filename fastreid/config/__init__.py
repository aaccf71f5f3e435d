"""Configuration: the defaults tree, ``_BASE_`` inheritance and ``get_cfg()``."""

from .config import BASE_KEY, CfgNode, ConfigError, allow_any_type, get_cfg

__all__ = ["CfgNode", "ConfigError", "get_cfg", "BASE_KEY", "allow_any_type"]
