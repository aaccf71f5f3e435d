"""Training metrics: an ``EventStorage`` the trainer opens for a run, and writers that report it.

Code running inside a training step records scalars with ``get_event_storage().put_scalar(...)``;
``current_storage()`` returns None outside a run, for code that may also run at test time.
Writers: ``CommonMetricPrinter`` (one console line with ETA, epoch, iteration, losses, lr, time),
``JSONWriter`` (one JSON line per iteration in ``metrics.json``) and ``TensorboardWriter`` (used only
when tensorboard imports).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

import torch
from fvcore.common.history_buffer import HistoryBuffer

__all__ = [
    "EventStorage", "get_event_storage", "current_storage", "EventWriter", "CommonMetricPrinter",
    "JSONWriter", "TensorboardWriter",
]

logger = logging.getLogger(__name__)

_STACK: List["EventStorage"] = []


def get_event_storage() -> "EventStorage":
    """The storage of the running training loop; raises RuntimeError outside one."""
    if not _STACK:
        raise RuntimeError("get_event_storage() called outside a training run (no EventStorage is open)")
    return _STACK[-1]


def current_storage() -> Optional["EventStorage"]:
    """The storage of the running training loop, or None outside one."""
    return _STACK[-1] if _STACK else None


class EventStorage:
    """Per-run scalar history keyed by name, stamped with the iteration that produced each value.

    Use as a context manager: ``with EventStorage(start_iter) as storage: ...``.
    """

    def __init__(self, start_iter: int = 0) -> None:
        self._history: Dict[str, HistoryBuffer] = defaultdict(HistoryBuffer)
        self._smoothing_hints: Dict[str, bool] = {}
        self._latest: Dict[str, Tuple[float, int]] = {}
        self.iter = start_iter
        self.epoch = 0

    def put_scalar(self, name: str, value, smoothing_hint: bool = True) -> None:
        """Record ``value`` (float or 0-d tensor) for ``name`` at the current iteration.

        ``smoothing_hint`` tells writers they may report a windowed median instead of the raw value.
        """
        value = float(value.item() if isinstance(value, torch.Tensor) else value)
        self._history[name].update(value, self.iter)
        self._latest[name] = (value, self.iter)
        prev = self._smoothing_hints.setdefault(name, smoothing_hint)
        if prev != smoothing_hint:
            raise ValueError(f"scalar '{name}' was recorded with smoothing_hint={prev} and now {smoothing_hint}")

    def put_scalars(self, *, smoothing_hint: bool = True, **kwargs) -> None:
        for k, v in kwargs.items():
            self.put_scalar(k, v, smoothing_hint=smoothing_hint)

    def history(self, name: str) -> HistoryBuffer:
        if name not in self._history:
            raise KeyError(f"no scalar named '{name}' in the EventStorage; recorded: {sorted(self._history)}")
        return self._history[name]

    def histories(self) -> Dict[str, HistoryBuffer]:
        return dict(self._history)

    def latest(self) -> Dict[str, Tuple[float, int]]:
        """``{name: (value, iteration)}`` of the most recent value of every scalar."""
        return dict(self._latest)

    def latest_with_smoothing_hint(self, window_size: int = 20) -> Dict[str, Tuple[float, int]]:
        """Like ``latest`` but smoothed scalars are the median of their last ``window_size`` values."""
        out = {}
        for k, (v, it) in self._latest.items():
            out[k] = (self._history[k].median(window_size) if self._smoothing_hints[k] else v, it)
        return out

    def smoothing_hints(self) -> Dict[str, bool]:
        return dict(self._smoothing_hints)

    def __enter__(self) -> "EventStorage":
        _STACK.append(self)
        return self

    def __exit__(self, *exc) -> None:
        assert _STACK and _STACK[-1] is self
        _STACK.pop()


class EventWriter:
    """Base class: ``write()`` reports the current storage, ``close()`` releases resources."""

    def write(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class CommonMetricPrinter(EventWriter):
    """Logs one line: ETA, epoch, iteration, every ``*loss*`` scalar, time, data_time, lr, memory."""

    def __init__(self, max_iter: int, window_size: int = 20) -> None:
        self._max_iter = max_iter
        self._window = window_size

    def _eta(self, storage: EventStorage) -> str:
        try:
            sec_per_iter = storage.history("time").global_avg()
        except KeyError:
            return "N/A"
        remaining = max(self._max_iter - storage.iter - 1, 0)
        return str(datetime.timedelta(seconds=int(sec_per_iter * remaining)))

    def write(self) -> None:
        storage = get_event_storage()
        hist = storage.histories()

        def median(name: str) -> str:
            return f"{hist[name].median(self._window):.4f}" if name in hist else "N/A"

        losses = "  ".join(
            f"{k}: {v.median(self._window):.4g}" for k, v in sorted(hist.items()) if "loss" in k
        )
        lr = f"{hist['lr'].latest():.3e}" if "lr" in hist else "N/A"
        mem = ""
        if torch.cuda.is_available():
            mem = f"  max_mem: {torch.cuda.max_memory_allocated() / 1024 ** 2:.0f}M"
        logger.info(
            f"eta: {self._eta(storage)}  epoch/iter: {storage.epoch}/{storage.iter}  {losses}  "
            f"time: {median('time')}  data_time: {median('data_time')}  lr: {lr}{mem}"
        )


class JSONWriter(EventWriter):
    """Appends one JSON object per iteration with new scalars to ``json_file`` (e.g. metrics.json)."""

    def __init__(self, json_file: str, window_size: int = 20) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(json_file)), exist_ok=True)
        self._file = open(json_file, "a")
        self._window = window_size
        self._written: Dict[str, int] = {}  # last iteration written, per scalar

    def write(self) -> None:
        storage = get_event_storage()
        by_iter: Dict[int, Dict[str, float]] = defaultdict(dict)
        for k, (v, it) in storage.latest_with_smoothing_hint(self._window).items():
            if it > self._written.get(k, -1):
                by_iter[it][k] = v
                self._written[k] = it
        for it in sorted(by_iter):
            self._file.write(json.dumps({"iteration": it, "epoch": storage.epoch, **by_iter[it]}) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class TensorboardWriter(EventWriter):
    """Writes the new scalars to TensorBoard event files in ``log_dir``; a no-op without tensorboard."""

    def __init__(self, log_dir: str, window_size: int = 20) -> None:
        self._window = window_size
        self._written: Dict[str, int] = {}
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            logger.info("tensorboard is not installed; TensorBoard logging is off")
            self._writer = None
            return
        self._writer = SummaryWriter(log_dir)

    @property
    def enabled(self) -> bool:
        return self._writer is not None

    def write(self) -> None:
        if self._writer is None:
            return
        storage = get_event_storage()
        for k, (v, it) in storage.latest_with_smoothing_hint(self._window).items():
            if it > self._written.get(k, -1):
                self._writer.add_scalar(k, v, it)
                self._written[k] = it

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
