"""A lock file that names its holder: ``pid<TAB>host<TAB>start time``, created with ``O_EXCL``.

A run folder is locked by the training process that writes into it (``fastreid.engine.run_dir``); an
experiment driver that shares its runs with other drivers locks each run it trains. A lock left by a
process that no longer runs on this host (a crash, a killed session) is taken over with a warning; one
of another host is never taken, since its process cannot be checked from here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from typing import NamedTuple, Optional

from fastreid.utils.env import process_alive

__all__ = ["LockHolder", "read_lock", "take_lock", "release_lock"]

logger = logging.getLogger(__name__)


class LockHolder(NamedTuple):
    pid: int
    host: str
    started: str

    def __str__(self) -> str:
        return f"process {self.pid} on {self.host} (since {self.started})"


def read_lock(path: str) -> Optional[LockHolder]:
    """The holder written in ``path`` (None when it is missing or unreadable)."""
    try:
        with open(path) as f:
            pid, host, started = f.read().split("\t")[:3]
        return LockHolder(int(pid), host, started.strip())
    except (OSError, ValueError):
        return None


def take_lock(path: str) -> Optional[LockHolder]:
    """Create the lock ``path`` for this process; returns None when it did (or this process already held
    it), else the live holder that keeps it."""
    host = socket.gethostname()
    for attempt in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = read_lock(path)
            if holder is None and attempt == 0:  # its creator may be writing it this instant
                time.sleep(0.1)
                continue
            if holder is not None and holder.pid == os.getpid() and holder.host == host:
                return None
            if holder is not None and (holder.host != host or process_alive(holder.pid)):
                return holder
            logger.warning("Removing the stale lock %s of a process that no longer runs (%s)", path, holder)
            with contextlib.suppress(FileNotFoundError):  # another process removed it first
                os.remove(path)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\t{host}\t{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        return None
    return read_lock(path) or LockHolder(-1, "unknown", "unknown")  # lost every race for it: taken


def release_lock(path: str, pid: Optional[int] = None) -> None:
    """Remove ``path`` if process ``pid`` (default: this one) holds it."""
    holder = read_lock(path)
    if holder is not None and holder.pid == (os.getpid() if pid is None else pid):
        os.remove(path)
