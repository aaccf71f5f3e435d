"""User-input errors and the command-line policy for them: one line, no traceback.

Bad configs, paths, datasets, checkpoints and genotypes raise the error classes of the stage that
checks them (ConfigError, UnknownNameError, DatasetLayoutError, ...). Entry points wrap their work in
``exit_on_user_error()`` so that such an error ends the program with ``error: <message>`` on one line,
while genuine bugs keep their traceback.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Tuple, Type

__all__ = ["user_errors", "exit_on_user_error"]


def user_errors() -> Tuple[Type[BaseException], ...]:
    """The exception classes that mean "the user's input is wrong" (imported lazily)."""
    from fastreid.config import ConfigError
    from fastreid.data.data_utils import CorruptImageError
    from fastreid.data.datasets.bases import EmptyTestSetError
    from fastreid.utils.checkpoint import CheckpointError
    from fastreid.utils.registry import UnknownNameError

    return (FileNotFoundError, ConfigError, UnknownNameError, CheckpointError, CorruptImageError,
            EmptyTestSetError)


@contextlib.contextmanager
def exit_on_user_error(extra: Tuple[Type[BaseException], ...] = ()) -> Iterator[None]:
    """Turn a user-input error raised inside the block into ``SystemExit("error: <one line>")``."""
    try:
        yield
    except user_errors() + tuple(extra) as e:
        raise SystemExit("error: " + " ".join(str(e).split())) from None
