"""Discovery of installed projects through setuptools entry points.

Two groups:
- ``fastreid.plugins``: modules imported once at start so their registry decorators run;
- ``fastreid.config``: functions ``add_xxx_config(cfg)`` applied by ``get_cfg()`` so the keys of
  installed projects are known before a YAML is merged.
A plugin that fails to import is reported with its name and the error, and skipped.
"""

from __future__ import annotations

import logging
from importlib import metadata
from typing import Any, List

__all__ = ["load_plugins", "apply_config_plugins", "loaded_plugin_packages", "PLUGIN_GROUP", "CONFIG_GROUP"]

logger = logging.getLogger(__name__)

PLUGIN_GROUP = "fastreid.plugins"
CONFIG_GROUP = "fastreid.config"
_loaded: List[str] = []


def _entry_points(group: str) -> list:
    eps = metadata.entry_points()
    if hasattr(eps, "select"):
        return list(eps.select(group=group))
    return list(eps.get(group, []))  # Python < 3.10


def load_plugins() -> List[str]:
    """Import every module announced in ``fastreid.plugins``; returns the names loaded so far."""
    for ep in _entry_points(PLUGIN_GROUP):
        if ep.name in _loaded:
            continue
        try:
            ep.load()
        except Exception as e:  # a broken plugin must not take the toolbox down
            logger.warning("fastreid plugin '%s' (%s) failed to load: %s", ep.name, ep.value, e)
            continue
        _loaded.append(ep.name)
    return list(_loaded)


def apply_config_plugins(cfg: Any) -> None:
    """Apply every ``add_xxx_config(cfg)`` announced in ``fastreid.config`` to ``cfg``."""
    load_plugins()
    for ep in _entry_points(CONFIG_GROUP):
        try:
            fn = ep.load()
        except Exception as e:
            logger.warning("fastreid config plugin '%s' (%s) failed to load: %s", ep.name, ep.value, e)
            continue
        fn(cfg)


def loaded_plugin_packages() -> List[str]:
    """Top-level package names of the plugins loaded so far (their loggers get the run's log file), plus
    those of the ``fastreid.plugins`` entry points a script imported itself."""
    import sys

    names = [ep.value.split(":")[0].split(".")[0] for ep in _entry_points(PLUGIN_GROUP)]
    return [n for n in dict.fromkeys(names) if n in sys.modules]
