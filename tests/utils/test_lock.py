"""A lock file names its holder; a live one keeps it, a dead one's (same host) is taken over."""

import os
import socket
import subprocess
import sys

from fastreid.utils.lock import read_lock, release_lock, take_lock


def _write(path, pid, host=None):
    path.write_text(f"{pid}\t{host or socket.gethostname()}\t2026-01-01 00:00:00\n")


def test_a_lock_is_taken_once_held_by_a_live_process_and_released_by_its_holder_only(tmp_path):
    lock = tmp_path / "x.lock"
    assert take_lock(str(lock)) is None and read_lock(str(lock)).pid == os.getpid()
    assert take_lock(str(lock)) is None  # this process holds it already
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write(lock, holder.pid)
        kept = take_lock(str(lock))
        assert kept is not None and kept.pid == holder.pid and f"process {holder.pid} on " in str(kept)
        release_lock(str(lock))  # not this process's: stays
        assert lock.is_file()
    finally:
        holder.kill()
        holder.wait()
    assert take_lock(str(lock)) is None and read_lock(str(lock)).pid == os.getpid()  # the holder is gone
    release_lock(str(lock))
    assert not lock.exists()


def test_another_hosts_lock_is_never_taken_and_an_empty_one_is(tmp_path):
    lock = tmp_path / "x.lock"
    _write(lock, 1, host="some-other-host")
    assert take_lock(str(lock)).host == "some-other-host"
    lock.write_text("")  # its creator was killed between creating and writing it
    assert take_lock(str(lock)) is None and read_lock(str(lock)).pid == os.getpid()
