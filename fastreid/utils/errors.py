"""User-input errors and the command-line policy for them: one line, no traceback.

Bad configs, paths, datasets, checkpoints and genotypes raise the error classes of the stage that
checks them (ConfigError, UnknownNameError, DatasetLayoutError, ...), all subclasses of
:class:`UserError` defined here (this module imports nothing of the toolbox, so every layer can use it).
Entry points wrap their work in ``exit_on_user_error()`` so that such an error ends the program with
``error: <message>`` on one line, while genuine bugs keep their traceback.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Iterator, Optional, Tuple, Type

__all__ = ["UserError", "ConfigValueError", "ToolError", "user_errors", "exit_on_user_error", "one_line"]


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


class ToolError(UserError, ValueError):
    """A command-line input of a tool (a file, folder, image list, features file or argument) is wrong."""


def user_errors() -> Tuple[Type[BaseException], ...]:
    """The exception classes that mean "the user's input is wrong"."""
    return (UserError, FileNotFoundError)


_TRACEBACK = "Traceback (most recent call last):"


def _user_error_in_traceback(text: str) -> Optional[str]:
    """The message of a user error re-raised from another process, whose text carries the original
    traceback (a data-loader worker, a spawned DDP process): its last line reads
    ``package.module.SomeError: message``; returns the message when SomeError is a UserError."""
    if _TRACEBACK not in text:
        return None
    last = [line for line in text.strip().splitlines() if line.strip()][-1]
    name, sep, message = last.partition(": ")
    if not sep:
        return None
    qualified = name.strip()
    if qualified.rsplit(".", 1)[-1] in _user_error_names() or _names_a_user_error(qualified):
        return message
    return None


def _names_a_user_error(qualified: str) -> bool:
    """``package.module.Class`` is a UserError subclass (its module imported by name if this process
    has not imported it yet, as a launcher process that only spawned the workers has not)."""
    import importlib

    module, _, cls_name = qualified.rpartition(".")
    if not module:
        return False
    try:
        cls = getattr(importlib.import_module(module), cls_name, None)
    except Exception:
        return False
    return isinstance(cls, type) and issubclass(cls, UserError)


def _user_error_names() -> set:
    names, todo = set(), [UserError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names | {"FileNotFoundError"}


def one_line(e: BaseException) -> str:
    """``e``'s message on one line (the original message for an error re-raised from another process)."""
    text = str(e)
    return " ".join((_user_error_in_traceback(text) or text).split())


def _stopped_by_signal(e: KeyboardInterrupt) -> int:
    """Say on stderr, in one line, which signal stopped the program (``e.signum``, SIGINT when absent, as
    for Ctrl-C); returns the conventional exit status, 128 + the signal's number."""
    signum = signal.Signals(int(getattr(e, "signum", signal.SIGINT)))
    print(f"stopped by {signum.name}" + (" (Ctrl-C)" if signum == signal.SIGINT else ""), file=sys.stderr)
    return 128 + int(signum)


@contextlib.contextmanager
def exit_on_user_error(extra: Tuple[Type[BaseException], ...] = ()) -> Iterator[None]:
    """Turn a user-input error raised inside the block into ``SystemExit("error: <one line>")``, also
    when a data-loader worker or a spawned process raised it (their tracebacks are cut to its message).
    A stop by Ctrl-C or SIGTERM (``KeyboardInterrupt``) is one line too, with exit status 130 or 143."""
    try:
        yield
    except KeyboardInterrupt as e:
        raise SystemExit(_stopped_by_signal(e)) from None
    except user_errors() + tuple(extra) as e:
        raise SystemExit("error: " + one_line(e)) from None
    except Exception as e:
        message = _user_error_in_traceback(str(e))
        if message is None:
            raise
        raise SystemExit("error: " + " ".join(message.split())) from None
