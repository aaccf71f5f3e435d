"""The one restartable batch iterator of the training loops.

``EpochBatches(loader).next(epoch)`` hands out the loader's batches; when the loader (or its batch
sampler, its sampler, or the batch sampler's sampler) has ``set_epoch(epoch)``, the stream is restarted
at the start of every epoch after calling it, so an epoch's batches depend only on the sampler's seed
and the epoch: a run resumed at an epoch boundary sees exactly the batches of an uninterrupted one.
Without ``set_epoch`` one iterator runs for the whole training. A loop that wants one stream for the
whole run although the loader could restart (the MSINet authors' validation iterator) asks for epoch 0
every time, with ``start_iter`` = the run's global iteration, so a resumed run continues that stream.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["EpochBatches", "sampler_with_set_epoch"]


def sampler_with_set_epoch(loader) -> Optional[Any]:
    """The object whose ``set_epoch(epoch)`` restarts the loader's stream at an epoch, or None.

    Checked in order: the loader itself (fastreid's TrainLoader), its batch sampler, its sampler, the
    batch sampler's sampler.
    """
    batch_sampler = getattr(loader, "batch_sampler", None)
    candidates = (loader, batch_sampler, getattr(loader, "sampler", None), getattr(batch_sampler, "sampler", None))
    for obj in candidates:
        if obj is not None and callable(getattr(obj, "set_epoch", None)):
            return obj
    return None


class EpochBatches:
    """Batches of ``loader`` for the epoch asked for (see the module docstring)."""

    def __init__(self, loader) -> None:
        self.loader = loader
        self._iter = None
        self._epoch: Optional[int] = None

    def next(self, epoch: int, start_iter: int = 0):
        """The next batch of ``epoch`` (a new epoch restarts the stream when the loader allows it).

        ``start_iter``: where a (re)started stream begins, in batches of ``epoch``; the loader or its
        batch sampler must then take ``set_epoch(epoch, start_iter)`` (a plain sampler counts indices).
        """
        sampler = sampler_with_set_epoch(self.loader)
        if self._iter is None or (sampler is not None and self._epoch != epoch):
            if start_iter and sampler not in (self.loader, getattr(self.loader, "batch_sampler", None)):
                raise ValueError(f"EpochBatches: start_iter {start_iter} needs a loader or batch sampler with "
                                 f"set_epoch(epoch, start_iter); {type(self.loader).__name__} has none")
            if sampler is not None and start_iter:
                sampler.set_epoch(epoch, start_iter)
            elif sampler is not None:
                sampler.set_epoch(epoch)
            self._iter = iter(self.loader)
            self._epoch = epoch
        return next(self._iter)
