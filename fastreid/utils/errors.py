"""User-input errors and the command-line policy for them: one line, no traceback.

Bad configs, paths, datasets, checkpoints and genotypes raise the error classes of the stage that
checks them (ConfigError, UnknownNameError, DatasetLayoutError, ...), all subclasses of
:class:`UserError` defined here (this module imports nothing of the toolbox, so every layer can use it).
Entry points wrap their work in ``exit_on_user_error()`` so that such an error ends the program with
``error: <message>`` on one line, while genuine bugs keep their traceback.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Tuple, Type

__all__ = ["UserError", "ConfigValueError", "user_errors", "exit_on_user_error"]


class UserError(Exception):
    """The user's input (config, data set, checkpoint, command line, run folder) is wrong; the message
    is one line that names the input and what was expected."""

    def __str__(self) -> str:  # plain text, also for subclasses of KeyError (which quote their message)
        return " ".join(str(a) for a in self.args)


class ConfigValueError(UserError, ValueError):
    """A config key holds a value its component does not accept; the message names the key, the value
    and what is accepted (``key``, ``value``, ``expected`` are kept when given)."""

    def __init__(self, message: str, *, key: str = "", value: object = None, expected: str = "") -> None:
        super().__init__(message)
        self.key, self.value, self.expected = key, value, expected


def user_errors() -> Tuple[Type[BaseException], ...]:
    """The exception classes that mean "the user's input is wrong"."""
    return (UserError, FileNotFoundError)


@contextlib.contextmanager
def exit_on_user_error(extra: Tuple[Type[BaseException], ...] = ()) -> Iterator[None]:
    """Turn a user-input error raised inside the block into ``SystemExit("error: <one line>")``."""
    try:
        yield
    except user_errors() + tuple(extra) as e:
        raise SystemExit("error: " + " ".join(str(e).split())) from None
