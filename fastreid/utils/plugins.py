"""Discovery of installed projects through setuptools entry points.

Two groups:
- ``fastreid.plugins``: modules imported once at start so their registry decorators run;
- ``fastreid.config``: functions ``add_xxx_config(cfg)`` applied by ``get_cfg(plugins=True)`` so the keys of
  installed projects are known before a YAML is merged.
Nothing is loaded implicitly: entry points call ``get_cfg(plugins=True)`` (or these functions). A
plugin that fails to import stops the program with its name and its own error (``PluginError``), rather
than a later "no BACKBONE named ..." far from the cause.
"""

from __future__ import annotations

import logging
from importlib import metadata
from typing import Any, List

from .errors import UserError

__all__ = ["load_plugins", "apply_config_plugins", "loaded_plugin_packages", "PluginError", "PLUGIN_GROUP",
           "CONFIG_GROUP"]

logger = logging.getLogger(__name__)

PLUGIN_GROUP = "fastreid.plugins"
CONFIG_GROUP = "fastreid.config"
_loaded: List[str] = []


class PluginError(UserError):
    """An installed fastreid plugin (entry point) failed to load."""


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
        except Exception as e:
            raise PluginError(f"fastreid plugin '{ep.name}' ({ep.value}, entry point group {PLUGIN_GROUP}) failed "
                              f"to import: {type(e).__name__}: {e}; fix or uninstall the package that announces it") from e
        _loaded.append(ep.name)
    return list(_loaded)


def apply_config_plugins(cfg: Any) -> None:
    """Apply every ``add_xxx_config(cfg)`` announced in ``fastreid.config`` to ``cfg``."""
    load_plugins()
    for ep in _entry_points(CONFIG_GROUP):
        try:
            fn = ep.load()
        except Exception as e:
            raise PluginError(f"fastreid config plugin '{ep.name}' ({ep.value}, entry point group {CONFIG_GROUP}) "
                              f"failed to import: {type(e).__name__}: {e}; fix or uninstall the package that "
                              "announces it") from e
        fn(cfg)


def loaded_plugin_packages() -> List[str]:
    """Top-level package names of the plugins loaded so far (their loggers get the run's log file), plus
    those of the ``fastreid.plugins`` entry points a script imported itself."""
    import sys

    names = [ep.value.split(":")[0].split(".")[0] for ep in _entry_points(PLUGIN_GROUP)]
    return [n for n in dict.fromkeys(names) if n in sys.modules]
