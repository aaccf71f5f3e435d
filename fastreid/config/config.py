"""The toolbox's config node: yacs with ``_BASE_`` inheritance and helpful unknown-key errors.

A YAML file may name a ``_BASE_`` file (relative to the including file, recursive). Keys that do not
exist in the defaults tree are rejected with one line naming the key, the file (or the command line)
and the closest existing keys, so a typo never passes silently.
"""

from __future__ import annotations

import difflib
import logging
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence

import yaml
from yacs.config import CfgNode as _YacsNode

from fastreid.utils.errors import UserError

__all__ = ["CfgNode", "ConfigError", "get_cfg", "BASE_KEY", "allow_any_type"]

logger = logging.getLogger(__name__)

BASE_KEY = "_BASE_"

# Keys whose value may be given in more than one form (e.g. a name or a list), so a command-line value
# of another type than the YAML's replaces it instead of failing yacs's type check.
_ANY_TYPE_KEYS: set = set()


def allow_any_type(key: str) -> None:
    """Let ``key`` (dotted, e.g. a project's ``MODEL.X.GENOTYPE``) take a value of any type from the
    command line; the component that reads it validates it."""
    _ANY_TYPE_KEYS.add(key)


class ConfigError(UserError, KeyError):
    """A config file or override names a key or value the defaults tree does not accept."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


def _flat_keys(node: _YacsNode, prefix: str = "") -> List[str]:
    keys = []
    for k, v in node.items():
        full = f"{prefix}{k}"
        keys.append(full)
        if isinstance(v, _YacsNode):
            keys.extend(_flat_keys(v, full + "."))
    return keys


def _merge_dicts(base: Dict[str, Any], child: Dict[str, Any], path: str) -> Dict[str, Any]:
    for k, v in child.items():
        if isinstance(v, dict) and k in base:
            if not isinstance(base[k], dict):
                raise ConfigError(f"{path}: key '{k}' is a mapping here but not in its _BASE_ file")
            _merge_dicts(base[k], v, path)
        else:
            base[k] = v
    return base


class CfgNode(_YacsNode):
    """yacs CfgNode with ``_BASE_`` inheritance and unknown-key errors that suggest fixes."""

    @classmethod
    def load_yaml_with_base(cls, filename: str, _seen: Optional[Iterable[str]] = None) -> Dict[str, Any]:
        """Load ``filename`` and, recursively, the ``_BASE_`` files it names; child values win."""
        filename = os.path.abspath(os.path.expanduser(filename))
        seen = list(_seen or [])
        if filename in seen:
            raise ConfigError(f"{filename}: _BASE_ chain loops back to itself ({' -> '.join(seen)})")
        if not os.path.isfile(filename):
            raise FileNotFoundError(f"config file not found: {filename}")
        with open(filename) as f:
            try:
                cfg = yaml.safe_load(f) or {}
            except yaml.YAMLError as e:
                raise ConfigError(f"{filename}: not valid YAML ({e})") from e
        if not isinstance(cfg, dict):
            raise ConfigError(f"{filename}: expected a mapping of config keys at the top level")
        base = cfg.pop(BASE_KEY, None)
        if base is None:
            return cfg
        if not isinstance(base, str):
            raise ConfigError(f"{filename}: _BASE_ must be a path string, got {base!r}")
        base = os.path.expanduser(base)
        if not os.path.isabs(base):
            base = os.path.join(os.path.dirname(filename), base)
        base_cfg = cls.load_yaml_with_base(base, seen + [filename])
        return _merge_dicts(base_cfg, cfg, filename)

    def _suggest(self, key: str) -> str:
        close = difflib.get_close_matches(key, _flat_keys(self), n=3, cutoff=0.5)
        if not close:
            leaf = key.split(".")[-1]
            close = [k for k in _flat_keys(self) if k.split(".")[-1] == leaf][:3]
        return ", ".join(close) if close else "none"

    def _check_known(self, flat: Dict[str, Any], where: str) -> None:
        known = set(_flat_keys(self))
        for key in flat:
            if key not in known:
                raise ConfigError(
                    f"unknown config key '{key}' in {where}; closest existing keys: {self._suggest(key)}"
                )

    def merge_from_file(self, cfg_filename: str, allow_unsafe: bool = False) -> None:
        """Merge a YAML file (and its ``_BASE_`` chain) into this node, rejecting unknown keys."""
        loaded = self.load_yaml_with_base(cfg_filename)
        self._check_known(_flatten_dict(loaded), cfg_filename)
        try:
            self.merge_from_other_cfg(type(self)(loaded))
        except (KeyError, ValueError, AssertionError) as e:
            raise ConfigError(f"{cfg_filename}: {_one_line(e)}") from e

    def merge_from_list(self, cfg_list: list) -> None:
        """Merge ``KEY VALUE`` pairs from the command line, rejecting unknown keys."""
        if len(cfg_list) % 2 != 0:
            raise ConfigError(
                f"command-line overrides must be KEY VALUE pairs; got an odd number of items: {cfg_list}"
            )
        keys = [k for k in cfg_list[0::2]]
        for k in keys:
            if k == BASE_KEY:
                raise ConfigError("_BASE_ cannot be given on the command line")
        self._check_known({k: None for k in keys}, "the command-line overrides")
        rest = []
        for k, v in zip(cfg_list[0::2], cfg_list[1::2]):
            if k not in _ANY_TYPE_KEYS:
                rest += [k, v]
                continue
            *parents, leaf = k.split(".")
            node = self
            for p in parents:
                node = node[p]
            node[leaf] = _YacsNode._decode_cfg_value(v)
        try:
            super().merge_from_list(rest)
        except (KeyError, ValueError, AssertionError) as e:
            raise ConfigError(f"command-line overrides: {_one_line(e)}") from e


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def _flatten_dict(d: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in d.items():
        full = f"{prefix}{k}"
        if isinstance(v, dict):
            out[full] = None
            out.update(_flatten_dict(v, full + "."))
        else:
            out[full] = v
    return out


def get_cfg(plugins: bool = False) -> CfgNode:
    """A fresh copy of the defaults tree, and nothing else.

    With ``plugins=True`` (what entry points ask for) the installed projects are loaded first: every
    ``fastreid.plugins`` module is imported (its registrations run) and every ``fastreid.config`` hook
    (e.g. MSINet's ``add_msinet_config``) adds its keys, so a YAML naming them merges. A plugin that
    fails to load raises :class:`~fastreid.utils.plugins.PluginError` naming it.
    """
    from .defaults import _C

    cfg = _C.clone()
    if plugins:
        from fastreid.utils.plugins import apply_config_plugins

        apply_config_plugins(cfg)
    return cfg


def load_config(config_file: str = "", opts: Sequence[str] = (), freeze: bool = True) -> CfgNode:
    """The config entry points run: defaults with the installed projects' keys (``get_cfg(plugins=True)``),
    then ``config_file`` (skipped when empty), then the ``KEY VALUE`` overrides ``opts``; frozen unless
    ``freeze=False`` (for a caller that sets more keys itself)."""
    cfg = get_cfg(plugins=True)
    if config_file:
        cfg.merge_from_file(str(config_file))
    cfg.merge_from_list(list(opts))
    if freeze:
        cfg.freeze()
    return cfg
