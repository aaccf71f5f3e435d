"""Writing files so that a reader never sees half of one: write a temp file beside the target, then
rename it over the target in one step (an interrupted write leaves the old file, or none).

``atomic_open`` is for code that writes through a file object; ``atomic_path`` for a writer that wants a
file name (a figure's ``savefig``, an ONNX exporter) or a file that is checked before it replaces the
target. Both name the temp file ``<name>.<random><suffix>`` in the target's folder.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, Iterator

__all__ = ["atomic_open", "atomic_path"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = ".tmp") -> Iterator[str]:
    """``with atomic_path(path) as tmp: write(tmp)`` replaces ``path`` with ``tmp`` only when the block
    succeeds; otherwise ``tmp`` is removed and ``path`` stays as it was. ``suffix`` ends the temp name
    (``".tmp.png"`` for a writer that reads the format from the extension)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=suffix, dir=folder)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the file gets the mode open() would give it
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w") -> Iterator[IO]:
    """``with atomic_open(path, "w" | "wb") as f: ...`` replaces ``path`` only when the block succeeds."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode {mode!r}; expected 'w' or 'wb'")
    with atomic_path(path) as tmp:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
