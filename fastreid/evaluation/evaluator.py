"""Evaluator interface and the evaluation loop shared by training-time evaluation and tools (its
batches come from :mod:`fastreid.evaluation.features`)."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Dict, Iterable, List

import torch
from torch import nn

from .features import inference_context, iter_batch_features

__all__ = ["DatasetEvaluator", "DatasetEvaluators", "inference_context", "inference_on_dataset"]


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


def inference_on_dataset(model: nn.Module, data_loader, evaluator: DatasetEvaluator, flip_test: bool = False,
                         log_period: float = 10.0) -> Dict[str, float]:
    """Run ``model`` over ``data_loader`` (eval mode, no gradients) and return ``evaluator.evaluate()``.

    The loop is :func:`~fastreid.evaluation.features.iter_batch_features`; each batch and its model
    output go to ``evaluator.process`` as they come.

    Args:
        data_loader: finite iterable of batch dicts with "images" (B, 3, H, W).
        flip_test: average the (B, D) features of each image and its horizontal flip.
        log_period: seconds between progress lines (images done / total, throughput and ETA).
    """
    evaluator.reset()
    stream = iter_batch_features(model, data_loader, flip=flip_test, log_every_s=log_period)
    with contextlib.closing(stream), torch.no_grad():
        for inputs, outputs in stream:
            evaluator.process(inputs, outputs)
    results = evaluator.evaluate()
    return results if results is not None else {}
