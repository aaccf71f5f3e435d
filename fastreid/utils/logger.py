"""Logger setup: a coloured console on the main process and plain-text files in the output folder.

Rank 0 writes ``<output>/log.txt``; rank N > 0 writes ``<output>/log.txt.rankN`` and logs to the
console only at WARNING and above, so a multi-process run prints each message once.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Optional

__all__ = ["setup_logger"]

_FMT = "[%(asctime)s] %(name)s %(levelname)s: %(message)s"
_DATEFMT = "%m/%d %H:%M:%S"
# (logger name, file path) pairs already attached, so repeated setup never duplicates lines
_ATTACHED: set = set()


class _ColorfulFormatter(logging.Formatter):
    """Console formatter: the short logger name in green, WARNING/ERROR tags in colour."""

    def __init__(self, *args, root_name: str = "", abbrev_name: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._root = root_name
        self._abbrev = abbrev_name

    def formatMessage(self, record: logging.LogRecord) -> str:
        from termcolor import colored

        name = record.name
        if self._abbrev and self._root and (name == self._root or name.startswith(self._root + ".")):
            name = self._abbrev + name[len(self._root):]
        head = colored(f"[{self.formatTime(record, self.datefmt)} {name}]: ", "green")
        if record.levelno >= logging.ERROR:
            head += colored("ERROR ", "red", attrs=["blink", "underline"])
        elif record.levelno >= logging.WARNING:
            head += colored("WARNING ", "red", attrs=["blink"])
        return head + record.getMessage()


class _StdoutHandler(logging.StreamHandler):
    """A console handler that writes to ``sys.stdout`` as it is when a record is emitted, not as it was
    when the logger was set up: a notebook, a test harness or a caller's redirection may replace it, and
    a stream kept from before would be closed by then."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler assigns it; the current sys.stdout is always used
        pass


def _log_file(output: str, rank: int) -> str:
    path = output if output.endswith((".txt", ".log")) else os.path.join(output, "log.txt")
    if rank > 0:
        path = f"{path}.rank{rank}"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return path


def setup_logger(output: Optional[str] = None, distributed_rank: int = 0, *, color: bool = True,
                 name: str = "fastreid", abbrev_name: Optional[str] = None) -> logging.Logger:
    """Configure logger ``name`` (and its children) for a run.

    Args:
        output: a folder (the log goes to ``output/log.txt``) or a file path ending in .txt/.log;
            None = console only.
        distributed_rank: this process's rank; ranks > 0 get ``log.txt.rankN`` and a quiet console.
        color: colour the console lines (termcolor).
        name: logger to configure, e.g. "fastreid", "msinet" or "__main__".
        abbrev_name: shorter name shown on the console (default "fr" for "fastreid").
    Returns:
        the configured ``logging.Logger``.
    """
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    if abbrev_name is None:
        abbrev_name = "fr" if name == "fastreid" else name
    if (name, "console") not in _ATTACHED:
        handler = _StdoutHandler()
        handler.setLevel(logging.DEBUG if distributed_rank == 0 else logging.WARNING)
        if color:
            handler.setFormatter(_ColorfulFormatter(_FMT, datefmt=_DATEFMT, root_name=name, abbrev_name=abbrev_name))
        else:
            handler.setFormatter(logging.Formatter(_FMT, datefmt=_DATEFMT))
        logger.addHandler(handler)
        _ATTACHED.add((name, "console"))
    if output:
        path = _log_file(output, distributed_rank)
        if (name, path) not in _ATTACHED:
            fh = logging.FileHandler(path, mode="a", encoding="utf-8")
            fh.setLevel(logging.DEBUG)
            fh.setFormatter(logging.Formatter(_FMT, datefmt=_DATEFMT))
            logger.addHandler(fh)
            _ATTACHED.add((name, path))
    return logger
