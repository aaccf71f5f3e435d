"""Registries that map short, case-insensitive names to components.

A thin layer over fvcore's ``Registry``: lookups ignore case (``resnet50`` / ``ResNet50``), a name
can be registered under extra aliases, and an unknown name fails with the list of registered ones and
the closest match.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Iterable, Optional

from fvcore.common.registry import Registry as _FvRegistry

from .errors import UserError

__all__ = ["Registry", "UnknownNameError"]


class UnknownNameError(UserError, KeyError):
    """A config asked a registry for a name nobody registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(_FvRegistry):
    """fvcore Registry with case-insensitive lookup, aliases and helpful errors."""

    def register(self, obj: Optional[Any] = None, *, name: Optional[str] = None,
                 aliases: Iterable[str] = ()) -> Any:
        """Register ``obj`` under ``name`` (default: its ``__name__``) and any ``aliases``.

        Usable as ``@REG.register()``, ``@REG.register(name="resnet50")`` or ``REG.register(fn)``.
        """

        def deco(o: Any) -> Any:
            self._do_register(name or o.__name__, o)
            for a in aliases:
                self._do_register(a, o)
            return o

        if obj is None:
            return deco
        return deco(obj)

    def get(self, name: str) -> Any:
        if not isinstance(name, str):
            raise UnknownNameError(f"{self._name} name must be a string, got {name!r}")
        obj = self._obj_map.get(name)
        if obj is not None:
            return obj
        lowered = {k.lower(): v for k, v in self._obj_map.items()}
        obj = lowered.get(name.lower())
        if obj is not None:
            return obj
        registered = sorted(self._obj_map.keys(), key=str.lower)
        close = difflib.get_close_matches(name.lower(), list(lowered.keys()), n=1)
        hint = f" Did you mean '{next(k for k in registered if k.lower() == close[0])}'?" if close else ""
        raise UnknownNameError(
            f"no {self._name} named '{name}'. Registered: {', '.join(registered) or '(none)'}.{hint}"
        )

    def names(self) -> list:
        """Registered names, sorted."""
        return sorted(self._obj_map.keys(), key=str.lower)

    def unregister(self, name: str) -> Any:
        """Remove the entry registered under exactly ``name`` and return it: for a part registered for a
        while (a test's stand-in); an alias of the same object stays registered under its own name."""
        if name not in self._obj_map:
            raise UnknownNameError(f"no {self._name} named '{name}' to unregister. Registered: "
                                   f"{', '.join(self.names()) or '(none)'}.")
        return self._obj_map.pop(name)

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Look ``name`` up and call it with the given arguments."""
        fn: Callable = self.get(name)
        return fn(*args, **kwargs)
