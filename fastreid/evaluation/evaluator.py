"""Evaluator interface and the inference loop shared by training-time evaluation and tools."""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from collections import OrderedDict
from typing import Dict, Iterable, List

import torch
from torch import nn

__all__ = ["DatasetEvaluator", "DatasetEvaluators", "inference_context", "inference_on_dataset"]

logger = logging.getLogger(__name__)


class DatasetEvaluator:
    """Accumulates a model's outputs over a dataset and turns them into metrics.

    ``reset()`` before a run, ``process(inputs, outputs)`` per batch (inputs: the loader's batch dict,
    outputs: the model's eval output), ``evaluate()`` at the end -> dict of metric name -> float (may be
    empty on non-main processes).
    """

    def reset(self) -> None:
        pass

    def process(self, inputs: Dict, outputs) -> None:
        raise NotImplementedError

    def evaluate(self) -> Dict[str, float]:
        raise NotImplementedError


class DatasetEvaluators(DatasetEvaluator):
    """Runs several evaluators on the same outputs; their result keys must not collide."""

    def __init__(self, evaluators: Iterable[DatasetEvaluator]):
        self._evaluators: List[DatasetEvaluator] = list(evaluators)

    def reset(self) -> None:
        for e in self._evaluators:
            e.reset()

    def process(self, inputs, outputs) -> None:
        for e in self._evaluators:
            e.process(inputs, outputs)

    def evaluate(self) -> Dict[str, float]:
        results = OrderedDict()
        for e in self._evaluators:
            for k, v in (e.evaluate() or {}).items():
                if k in results:
                    raise KeyError(f"evaluators: result key {k!r} produced twice; expected distinct keys")
                results[k] = v
        return results


@contextlib.contextmanager
def inference_context(model: nn.Module):
    """Eval mode inside the block; the previous train/eval mode is restored afterwards."""
    training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training)


def _features(model: nn.Module, inputs, flip_test: bool) -> torch.Tensor:
    outputs = model(inputs)
    if flip_test:
        flipped = dict(inputs)
        flipped["images"] = inputs["images"].flip(dims=[3])
        outputs = (outputs + model(flipped)) / 2.0
    return outputs


def inference_on_dataset(model: nn.Module, data_loader, evaluator: DatasetEvaluator, flip_test: bool = False,
                         log_period: float = 10.0) -> Dict[str, float]:
    """Run ``model`` over ``data_loader`` (eval mode, no gradients) and return ``evaluator.evaluate()``.

    Args:
        data_loader: finite iterable of batch dicts with "images" (B, 3, H, W).
        flip_test: average the (B, D) features of each image and its horizontal flip.
        log_period: seconds between progress lines (with throughput and ETA).
    """
    total = len(data_loader) if hasattr(data_loader, "__len__") else None
    evaluator.reset()
    start = time.perf_counter()
    last_log = start
    num_done = 0
    with inference_context(model), torch.no_grad():
        for idx, inputs in enumerate(data_loader):
            outputs = _features(model, inputs, flip_test)
            evaluator.process(inputs, outputs)
            num_done = idx + 1
            now = time.perf_counter()
            if now - last_log >= log_period:
                last_log = now
                per_batch = (now - start) / num_done
                eta = f", ETA {datetime.timedelta(seconds=int(per_batch * (total - num_done)))}" if total else ""
                logger.info("Inference done %d/%s batches, %.4f s/batch%s", num_done, total or "?", per_batch, eta)
    elapsed = time.perf_counter() - start
    logger.info("Inference of %d batches took %s (%.4f s/batch)", num_done,
                datetime.timedelta(seconds=int(elapsed)), elapsed / max(num_done, 1))
    results = evaluator.evaluate()
    return results if results is not None else {}
