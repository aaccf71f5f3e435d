"""A lock file that names its holder: ``pid<TAB>host<TAB>start time``, created with ``O_EXCL``.

A run folder is locked by the training process that writes into it (``fastreid.engine.run_dir``); an
experiment driver that shares its runs with other drivers locks each run it trains. A lock left by a
process that no longer runs on this host (a crash, a killed session) is taken over with a warning; one
of another host is never taken, since its process cannot be checked from here. Processes that find the
same dead holder at once take it over one at a time (an advisory ``flock`` on the lock's folder): each
removes the lock only if it is still the file it judged dead, so none removes a lock another has just taken.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from typing import Iterator, NamedTuple, Optional, Tuple

try:
    import fcntl
except ImportError:  # not POSIX: take-overs go unserialised
    fcntl = None

from fastreid.utils.env import process_alive

__all__ = ["LockHolder", "read_lock", "take_lock", "release_lock"]

logger = logging.getLogger(__name__)

# an empty (or half-written) lock younger than this is being written by its creator; older, it was killed
_WRITE_GRACE_S = 1.0
_PASSES = 50


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


def _identity(path: str) -> Optional[Tuple[int, int, Optional[LockHolder]]]:
    """Which file ``path`` is now (inode, modification time, holder); None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, read_lock(path)


@contextlib.contextmanager
def _takeover_guard(path: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the folder of ``path`` (released on exit, or when the process dies);
    where the folder cannot be locked, go on without it."""
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY) if fcntl is not None else None
    except OSError:
        fd = None
    try:
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        if fd is not None:
            os.close(fd)


def take_lock(path: str) -> Optional[LockHolder]:
    """Create the lock ``path`` for this process; returns None when it did (or this process already held
    it), else the live holder that keeps it."""
    host = socket.gethostname()
    for _ in range(_PASSES):  # each pass creates the lock, finds its live holder, or clears a dead one's
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            found = _identity(path)
            if found is None:  # released since
                continue
            holder = found[2]
            if holder is None and time.time() - found[1] / 1e9 < _WRITE_GRACE_S:  # its creator is writing it
                time.sleep(_WRITE_GRACE_S / 20)
                continue
            if holder is not None and holder.pid == os.getpid() and holder.host == host:
                return None
            if holder is not None and (holder.host != host or process_alive(holder.pid)):
                return holder
            with _takeover_guard(path):
                if _identity(path) == found:  # not yet taken over by another process
                    logger.warning("Removing the stale lock %s of a process that no longer runs (%s)",
                                   path, holder or "empty: its creator was killed while writing it")
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
