"""Features of a set of items: the one inference loop of the toolbox.

:func:`extract_features` runs a model over the loaders' batch dicts (``images``, and when present
``targets``, ``camids``, ``img_paths``; see :mod:`fastreid.data.build`) in eval mode without gradients
and returns every feature with its labels and paths, on the CPU, optionally gathered from every process.
It serves evaluation, the predictor's data sets, MSINet's memory centroids and clustering-based
training (features of every unlabelled training image). :func:`iter_batch_features` is the same loop
batch by batch, for callers that consume each batch as it comes (the evaluator protocol).

Whether the features are L2-normalised is the caller's business: they come out as the model gives them.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import logging
import numbers
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Tuple, Union

import torch
from torch import nn

from fastreid.utils import comm

__all__ = [
    "ExtractedFeatures", "extract_features", "iter_batch_features", "forward_features", "inference_context",
    "count_images",
]

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, Optional[int]], None]

#: the batch key each label field of :class:`ExtractedFeatures` comes from
_FIELD_KEYS: Dict[str, str] = {"targets": "targets", "camids": "camids", "paths": "img_paths"}

Column = Union[torch.Tensor, List[Any]]


class ExtractedFeatures(NamedTuple):
    """Features of the items in the order the batches gave them (rank order when gathered).

    A label field is None when the batches do not carry it (e.g. no ``camids`` in a centroid split).
    Numeric labels (what the collator stacks into tensors) come as an (N,) int64 CPU tensor; others
    (the training sets' string labels such as ``"market1501_3"``) as a list of the values.
    """

    features: torch.Tensor  # (N, D) float32 on the CPU, as the model gives them (not normalised here)
    targets: Optional[Column]  # N labels from the batches' "targets"
    camids: Optional[Column]  # N camera ids from the batches' "camids"
    paths: Optional[List[str]]  # N image paths from the batches' "img_paths"


@contextlib.contextmanager
def inference_context(model: nn.Module) -> Iterator[None]:
    """Eval mode inside the block; the previous train/eval mode is restored afterwards, even on error."""
    training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training)


def forward_features(model: nn.Module, batch: Mapping[str, Any], flip: bool = False) -> torch.Tensor:
    """The model's output for ``batch``; with ``flip`` the mean with its output for the horizontally
    mirrored images (the flip test: same batch dict, ``images`` flipped along the width)."""
    outputs = model(batch)
    if flip:
        flipped = dict(batch)
        flipped["images"] = batch["images"].flip(dims=[3])
        outputs = (outputs + model(flipped)) / 2.0
    return outputs


def count_images(batches: Iterable) -> Optional[int]:
    """Images ``batches`` will yield on this process, when it can tell, else None.

    A DataLoader's batch sampler's sampler gives this process's shard (the test loader shards across
    ranks); otherwise the length of ``batches.dataset``.
    """
    candidates = [getattr(getattr(batches, "batch_sampler", None), "sampler", None),
                  getattr(batches, "dataset", None)]
    for source in candidates:
        if source is None:
            continue
        try:
            return int(len(source))
        except TypeError:  # an iterable without a length
            continue
    return None


class _Throughput:
    """Counts images, reports ``progress(done, total)`` after every batch, logs at most every few seconds."""

    def __init__(self, total: Optional[int], progress: Optional[ProgressFn], log_every_s: float) -> None:
        self.total = total
        self.progress = progress
        self.log_every_s = log_every_s
        self.done = 0
        self.start = self.last_log = time.perf_counter()

    def advance(self, images: int) -> None:
        self.done += images
        if self.progress is not None:
            self.progress(self.done, self.total)
        now = time.perf_counter()
        if now - self.last_log >= self.log_every_s:
            self.last_log = now
            self._log_line(now)

    def _log_line(self, now: float) -> None:
        rate = self.done / max(now - self.start, 1e-9)
        if self.total:
            eta = datetime.timedelta(seconds=int(max(self.total - self.done, 0) / max(rate, 1e-9)))
            logger.info("features: %d/%d images, %.1f images/s, ETA %s", self.done, self.total, rate, eta)
        else:
            logger.info("features: %d images, %.1f images/s", self.done, rate)

    def finish(self) -> None:
        elapsed = time.perf_counter() - self.start
        logger.info("features of %d images took %s (%.1f images/s)", self.done,
                    datetime.timedelta(seconds=int(elapsed)), self.done / max(elapsed, 1e-9))


def iter_batch_features(model: nn.Module, batches: Iterable[Mapping[str, Any]], *, flip: bool = False,
                        progress: Optional[ProgressFn] = None,
                        log_every_s: float = 5.0) -> Iterator[Tuple[Mapping[str, Any], torch.Tensor]]:
    """Yield ``(batch, features)`` for every batch: the model's output in eval mode without gradients
    (on its device, in its dtype), flip-averaged when asked.

    The model stays in eval mode while the generator is open and returns to its previous mode when it
    ends, fails or is closed (use ``contextlib.closing`` when a consumer may stop early). Gradients are
    off only around the forward passes. ``progress(done, total)`` is called after every batch (``total``
    from :func:`count_images`, possibly None); a log line follows at most every ``log_every_s`` seconds.
    """
    if log_every_s < 0:
        raise ValueError(f"log_every_s: {log_every_s}; expected seconds >= 0")
    meter = _Throughput(count_images(batches), progress, log_every_s)
    with inference_context(model):
        for batch in batches:
            with torch.no_grad():
                outputs = forward_features(model, batch, flip)
            meter.advance(int(outputs.shape[0]))
            yield batch, outputs
    meter.finish()


class _Shard:
    """This process's features and label columns, accumulated batch by batch on the CPU."""

    def __init__(self) -> None:
        self.features: List[torch.Tensor] = []
        self.columns: Optional[Dict[str, List[Column]]] = None  # field -> chunks, fixed by the first batch

    def add(self, batch: Mapping[str, Any], outputs: torch.Tensor) -> None:
        if outputs.dim() != 2:
            raise ValueError(f"model output: shape {tuple(outputs.shape)}; expected (B, D) features in eval mode")
        fields = [field for field, key in _FIELD_KEYS.items() if key in batch]
        if self.columns is None:
            self.columns = {field: [] for field in fields}
        elif fields != list(self.columns):
            keys = sorted(_FIELD_KEYS[f] for f in fields)
            expected = sorted(_FIELD_KEYS[f] for f in self.columns)
            raise ValueError(f"batch {len(self.features)} carries keys {keys}; expected the keys of the first "
                             f"batch {expected}")
        rows = int(outputs.shape[0])
        for field, chunks in self.columns.items():
            chunks.append(_column(batch[_FIELD_KEYS[field]], _FIELD_KEYS[field], rows, field == "paths"))
        self.features.append(outputs.detach().to("cpu", torch.float32))

    def result(self, empty_dim: int) -> ExtractedFeatures:
        """The shard; without any batch, (0, ``empty_dim``) features and no labels."""
        if not self.features:
            return ExtractedFeatures(torch.zeros(0, empty_dim), None, None, None)
        columns = {field: _concat(chunks) for field, chunks in (self.columns or {}).items()}
        return ExtractedFeatures(torch.cat(self.features), **{f: columns.get(f) for f in _FIELD_KEYS})


def _is_numeric(values: Any) -> bool:
    """A tensor, or a sequence of numbers (the collator turns ints into tensors, strings into lists)."""
    if isinstance(values, torch.Tensor):
        return True
    return all(isinstance(v, numbers.Number) for v in values)


def _column(values: Any, key: str, rows: int, as_text: bool) -> Column:
    """A batch's label column: an int64 CPU vector for numbers, else the list of values; ``rows`` long."""
    if as_text:
        column: Column = [str(v) for v in values]
    elif _is_numeric(values):
        column = torch.as_tensor(values).reshape(-1).to("cpu", torch.long)
    else:
        column = list(values)
    if len(column) != rows:
        raise ValueError(f"batch '{key}': {len(column)} values; expected {rows}, one per image")
    return column


def _concat(chunks: List[Column]) -> Column:
    """Tensors concatenated; a list as soon as one chunk is a list."""
    if all(isinstance(c, torch.Tensor) for c in chunks):
        return torch.cat(chunks)
    return [v for c in chunks for v in (c.tolist() if isinstance(c, torch.Tensor) else c)]


def _model_device(model: nn.Module) -> torch.device:
    """Where the model's tensors live (the device a gather must use with NCCL); the CPU for an empty model."""
    tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def _agree(values: List[Any], what: str) -> Any:
    """The one value every non-empty shard reports (None if all are empty)."""
    distinct = set(values)
    if len(distinct) > 1:
        raise ValueError(f"gather: processes report different {what} {sorted(map(str, distinct))}; expected one")
    return distinct.pop() if distinct else None


def _kinds(local: ExtractedFeatures) -> Tuple[Tuple[str, str], ...]:
    """(field, "tensor" | "list") of every label field this shard carries."""
    return tuple((f, "tensor" if isinstance(getattr(local, f), torch.Tensor) else "list")
                 for f in _FIELD_KEYS if getattr(local, f) is not None)


def _gather_column(mine: Optional[Column], kind: str, device: torch.device) -> Column:
    if kind == "tensor":
        mine = torch.zeros(0, dtype=torch.long) if mine is None else mine
        return comm.gather_across_ranks(mine.to(device)).cpu()
    return [v for part in comm.all_gather(list(mine or [])) for v in part]


def _gather_shards(local: ExtractedFeatures, device: torch.device) -> ExtractedFeatures:
    """Every process's shard concatenated in rank order; empty shards join with (0, D) tensors."""
    if comm.get_world_size() == 1:
        return local
    rows, dim = local.features.shape
    infos = comm.all_gather((rows, dim, _kinds(local)))
    filled = [(d, k) for r, d, k in infos if r > 0]
    dim = _agree([d for d, _ in filled], "feature sizes") or dim
    kinds = dict(_agree([k for _, k in filled], "label fields") or ())
    features = comm.gather_across_ranks(local.features.reshape(rows, dim).to(device)).cpu()
    columns = {f: _gather_column(getattr(local, f), kind, device) for f, kind in kinds.items()}
    return ExtractedFeatures(features, **{f: columns.get(f) for f in _FIELD_KEYS})


def extract_features(model: nn.Module, batches: Iterable[Mapping[str, Any]], *, flip: bool = False,
                     gather: bool = False, progress: Optional[ProgressFn] = None,
                     log_every_s: float = 5.0) -> ExtractedFeatures:
    """Features of every item of ``batches``, with their labels and paths.

    Args:
        model: called with each batch dict (``images`` (B, 3, H, W)), returns (B, D) in eval mode; it runs
            in eval mode under ``torch.no_grad()`` and gets its previous mode back, even on error.
        batches: finite iterable of batch dicts (a test or centroid loader, a list).
        flip: average each image's features with those of its horizontal mirror (the flip test).
        gather: concatenate every process's shard in rank order, so every process gets the whole set
            (a process with no batch still joins). With one process nothing changes.
        progress: called as ``progress(done, total)`` after every batch, in images of this process;
            ``total`` is :func:`count_images` of ``batches`` (None when unknown).
        log_every_s: at most one progress log line (done / total, images per second) per that many seconds.
    Returns:
        :class:`ExtractedFeatures`: float32 CPU features, not normalised, in batch order.
    """
    shard = _Shard()
    stream = iter_batch_features(model, batches, flip=flip, progress=progress, log_every_s=log_every_s)
    with contextlib.closing(stream):
        for batch, outputs in stream:
            shard.add(batch, outputs)
    local = shard.result(int(getattr(model, "feat_dim", 0) or 0))
    return _gather_shards(local, _model_device(model)) if gather else local
