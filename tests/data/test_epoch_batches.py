"""EpochBatches: the training loops' one restartable batch iterator."""

import pytest

from fastreid.data.epoch_batches import EpochBatches, sampler_with_set_epoch


class Sampler:
    def __init__(self):
        self.epoch = None

    def set_epoch(self, e):
        self.epoch = e


class Loader:
    def __init__(self):
        self.sampler = Sampler()

    def __iter__(self):
        base = 100 * self.sampler.epoch
        return iter(range(base, base + 50))


def test_epoch_batches_restart_their_stream_at_each_epoch():
    batches = EpochBatches(Loader())
    assert [batches.next(0), batches.next(0), batches.next(1), batches.next(1), batches.next(0)] == [0, 1, 100, 101, 0]


def test_a_loader_without_set_epoch_runs_one_stream():
    batches = EpochBatches(list(range(10)))
    assert [batches.next(0), batches.next(1), batches.next(5)] == [0, 1, 2]
    assert sampler_with_set_epoch([1, 2]) is None


def test_the_loader_itself_is_asked_before_its_samplers():
    class Both(Loader):
        def set_epoch(self, e):
            self.sampler.epoch = e + 1

    loader = Both()
    assert sampler_with_set_epoch(loader) is loader
    assert EpochBatches(loader).next(0) == 100


def test_a_run_long_stream_asks_for_epoch_0_and_resumes_at_the_run_iteration():
    class BatchLoader:
        def __init__(self):
            self.start = None

        def set_epoch(self, epoch, start_iter=0):
            self.start = (epoch, start_iter)

        def __iter__(self):
            return iter(range(self.start[1], 1000))

    loader = BatchLoader()
    batches = EpochBatches(loader)
    assert [batches.next(0, start_iter=7), batches.next(0, start_iter=8), batches.next(0, start_iter=9)] == [7, 8, 9]
    assert loader.start == (0, 7)  # set once: later calls continue the stream
    with pytest.raises(ValueError, match="start_iter 3 needs a loader or batch sampler"):
        EpochBatches(Loader()).next(0, start_iter=3)  # its set_epoch is a plain sampler's
