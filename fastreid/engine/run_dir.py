"""The run folder (OUTPUT_DIR) is never clobbered: what a finished or interrupted run wrote stays.

``claim_run_dir`` is called by ``default_setup`` before anything is written:

- a folder that already holds a run (``last_checkpoint`` or ``model_*.pth``) is only reused with
  ``--resume`` (continue it) or ``--overwrite`` (start again: once the new run starts, the earlier
  run's checkpoints and configs are moved into ``overwritten-<date>-<time>/`` by
  :func:`set_aside_previous_run`, so nothing of it mixes with the new run and nothing is lost);
  anything else stops with one line saying so;
- a lock file (``.run.lock``: pid, host, start time) stops a second process in the same folder with one
  line naming the holder; a lock whose process is gone (same host) is taken over with a warning;
- stale ``*.pth.<random>.tmp`` files of killed saves are removed;
- on ``--resume`` with a different config, the previous ``config.yaml`` is kept as
  ``config.<n>.yaml`` before the new one is written.

The run's ``config.yaml`` is written here too (:func:`save_run_config`, atomically; completed with the
class count the trainer fills in by :func:`complete_saved_config`), and :func:`start_run` is the whole
of this for a driver that trains many models in one process.
"""

from __future__ import annotations

import atexit
import glob
import logging
import os
import re
import time
from typing import Optional

import yaml

from fastreid.utils import comm
from fastreid.utils.errors import UserError
from fastreid.utils.file_io import atomic_open
from fastreid.utils.lock import release_lock, take_lock

__all__ = ["RunDirError", "claim_run_dir", "keep_previous_config", "set_aside_previous_run", "save_run_config",
           "complete_saved_config", "start_run", "LOCK_FILE"]

logger = logging.getLogger(__name__)

LOCK_FILE = ".run.lock"


class RunDirError(UserError):
    """OUTPUT_DIR holds another run, or another process is using it."""


def _holds_run(output_dir: str) -> Optional[str]:
    """What in ``output_dir`` shows an earlier run ("" or None when nothing does)."""
    if os.path.isfile(os.path.join(output_dir, "last_checkpoint")):
        with open(os.path.join(output_dir, "last_checkpoint")) as f:
            return f"last_checkpoint -> {f.read().strip()}"
    models = sorted(glob.glob(os.path.join(output_dir, "model_*.pth")))
    if models:
        return f"{len(models)} checkpoint(s), e.g. {os.path.basename(models[0])}"
    return None


def _acquire_lock(output_dir: str) -> None:
    path = os.path.join(output_dir, LOCK_FILE)
    holder = take_lock(path)
    if holder is not None:
        raise RunDirError(f"OUTPUT_DIR {output_dir} is in use by {holder}; wait for it, stop it, or choose "
                          f"another OUTPUT_DIR (if no such process exists, delete {path})")
    atexit.register(release_lock, path, os.getpid())


def _remove_stale_temp_files(output_dir: str) -> None:
    for tmp in glob.glob(os.path.join(output_dir, "*.pth.*.tmp")):
        logger.warning("Removing %s, left by a save that was killed", tmp)
        os.remove(tmp)


def claim_run_dir(output_dir: str, *, resume: bool = False, overwrite: bool = False, lock: bool = True) -> None:
    """Check that a training run may write into ``output_dir``, then lock it (see the module docstring).

    Raises :class:`RunDirError` when it holds an earlier run and neither ``resume`` nor ``overwrite``
    is set, or when another live process holds its lock.
    """
    if not output_dir:
        return
    earlier = _holds_run(output_dir) if os.path.isdir(output_dir) else None
    if earlier and not (resume or overwrite):
        raise RunDirError(f"OUTPUT_DIR {output_dir} already holds a run ({earlier}); pass --resume to continue "
                          "it, --overwrite to start again in it (its checkpoints are moved into a dated "
                          "subfolder), or choose another OUTPUT_DIR")
    if overwrite and earlier and not resume:
        logger.warning("Overwriting: a new run starts in %s, which holds a run (%s)", output_dir, earlier)
    if lock:
        os.makedirs(output_dir, exist_ok=True)
        _acquire_lock(output_dir)
        _remove_stale_temp_files(output_dir)


def keep_previous_config(output_dir: str, new_text: str) -> Optional[str]:
    """When ``output_dir/config.yaml`` exists and differs from ``new_text``, rename it to the first free
    ``config.<n>.yaml`` and return that path (None when nothing was kept)."""
    path = os.path.join(output_dir, "config.yaml")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        if f.read() == new_text:
            return None
    n = 1
    while os.path.exists(os.path.join(output_dir, f"config.{n}.yaml")):
        n += 1
    kept = os.path.join(output_dir, f"config.{n}.yaml")
    os.replace(path, kept)
    logger.warning("The config differs from the run's previous one; the previous is kept as %s", kept)
    return kept


_EARLIER_RUN_FILES = re.compile(r"^(model_.*\.pth|last_checkpoint|config(\.\d+)?\.yaml)$")


def set_aside_previous_run(output_dir: str) -> Optional[str]:
    """Move the files of the earlier run in ``output_dir`` that a new run would mix with its own (its
    ``model_*.pth`` checkpoints, ``last_checkpoint`` and ``config*.yaml``) into a new subfolder
    ``overwritten-<YYYYmmdd-HHMMSS>``; returns that folder, or None when there was nothing to move.
    What ``--overwrite`` does once the new run has started."""
    names = sorted(n for n in os.listdir(output_dir) if _EARLIER_RUN_FILES.match(n)) if output_dir else []
    if not names:
        return None
    folder = base = os.path.join(output_dir, "overwritten-" + time.strftime("%Y%m%d-%H%M%S"))
    n = 1
    while os.path.exists(folder):
        folder, n = f"{base}-{n}", n + 1
    os.makedirs(folder)
    for name in names:
        os.replace(os.path.join(output_dir, name), os.path.join(folder, name))
    logger.warning("--overwrite: the earlier run's %s moved into %s", ", ".join(names), folder)
    return folder


def save_run_config(cfg) -> str:
    """Write ``OUTPUT_DIR/config.yaml`` atomically (a different earlier one is kept as ``config.<n>.yaml``);
    returns its path."""
    path = os.path.join(cfg.OUTPUT_DIR, "config.yaml")
    text = cfg.dump()
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    completed = _as_completed_by_the_run(cfg, path)
    kept = keep_previous_config(cfg.OUTPUT_DIR, completed or text)
    if completed is not None and kept is None:
        return path  # the same config, with the class count the run filled in: keep that file
    with atomic_open(path) as f:
        f.write(text)
    return path


def _as_completed_by_the_run(cfg, path: str) -> Optional[str]:
    """``cfg`` as the run at ``path`` completed it (MODEL.HEADS.NUM_CLASSES 0 -> the training set's count,
    see :meth:`~fastreid.engine.trainer.DefaultTrainer.auto_scale_hyperparams`), so a resume does not
    count that as a change; None when there is nothing to complete."""
    if cfg.MODEL.HEADS.NUM_CLASSES != 0 or not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            saved = (yaml.safe_load(f) or {}).get("MODEL", {}).get("HEADS", {}).get("NUM_CLASSES")
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    if not isinstance(saved, int) or saved <= 0:
        return None
    completed = cfg.clone()
    completed.defrost()
    completed.MODEL.HEADS.NUM_CLASSES = saved
    return completed.dump()


def complete_saved_config(cfg) -> None:
    """Write ``cfg`` (its class count filled in) over OUTPUT_DIR/config.yaml when that file is this same
    config with NUM_CLASSES 0 (what :func:`start_run` wrote); any other file is left for
    :func:`save_run_config`, which runs once the run has started."""
    path = os.path.join(cfg.OUTPUT_DIR, "config.yaml") if cfg.OUTPUT_DIR else ""
    if not (comm.is_main_process() and path and os.path.isfile(path)):
        return
    blank = cfg.clone()
    blank.defrost()
    blank.MODEL.HEADS.NUM_CLASSES = 0
    with open(path) as f:
        if f.read() != blank.dump():
            return
    with atomic_open(path) as f:
        f.write(cfg.dump())


def start_run(cfg, *, resume: bool = False, overwrite: bool = False) -> str:
    """What a driver that trains many models in one process (an experiment, the demo) does before each:
    the run-folder rules of :func:`~fastreid.engine.defaults.default_setup` (OUTPUT_DIR claimed and
    locked; one holding an earlier run needs ``resume`` or ``overwrite``) and its ``config.yaml``. Logging and seeding stay with the
    driver and the trainer (DefaultTrainer seeds itself from SEED). Returns the config's path."""
    claim_run_dir(cfg.OUTPUT_DIR, resume=resume, overwrite=overwrite, lock=comm.is_main_process())
    return save_run_config(cfg)
