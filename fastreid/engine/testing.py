"""Test sets in a run: built once, checked before training, evaluated.

What a trainer does with DATASETS.TESTS, kept apart from the trainer so that a subclass changes how a
test set is built (``build_test_loader``) or scored (``build_evaluator``) without copying the loop:

- :func:`check_input_sizes` and :func:`check_test_sets`: before the first iteration, the input sizes fit
  the model and every test set loads, its files are images and one batch goes through the model;
- :func:`evaluate_test_sets`: the evaluation, each draw of a randomly drawn protocol (VehicleID)
  averaged over TEST.REPEATS (:func:`protocol_draws`);
- :func:`cached_test_loader`: the loaders are kept in a dict between evaluations (read and printed once).

``DefaultTrainer.check_test_sets`` / ``check_input_sizes`` / ``test`` call these with its own builders.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from fastreid.utils import comm
from fastreid.utils.errors import ConfigValueError

__all__ = ["check_input_sizes", "check_test_sets", "evaluate_test_sets", "cached_test_loader", "protocol_draws"]

logger = logging.getLogger(__name__)

#: ``(cfg, name, **dataset_kwargs) -> (loader, num_query)``: query images first, then gallery
BuildTestLoader = Callable[..., Tuple[Any, int]]
#: ``(cfg, name, num_query) -> DatasetEvaluator``
BuildEvaluator = Callable[[Any, str, int], Any]
#: ``{(test set name, draw or None): (loader, num_query)}``
Loaders = Dict[Tuple[str, Optional[int]], Tuple[Any, int]]


def cached_test_loader(build_test_loader: BuildTestLoader, cfg, name: str, repeat: Optional[int],
                       loaders: Optional[Loaders]) -> Tuple[Any, int]:
    """``build_test_loader(cfg, name[, repeat=repeat])`` for test set ``name`` (draw ``repeat`` of a
    randomly drawn protocol, None otherwise), kept in ``loaders`` when given so that a trainer reads and
    prints each test set once, not at every evaluation."""
    key = (name, repeat)
    if loaders is not None and key in loaders:
        return loaders[key]
    built = build_test_loader(cfg, name, **({"repeat": repeat} if repeat is not None else {}))
    if loaders is not None:
        loaders[key] = built
    return built

def protocol_draws(cfg, name: str) -> List[Optional[int]]:
    """The draws evaluated on test set ``name``: ``[None]`` for a fixed protocol, ``0..TEST.REPEATS-1``
    for a randomly drawn one (VehicleID's one gallery image per identity), averaged by
    :func:`evaluate_test_sets`."""
    from fastreid.data.datasets.registry import DATASET_REGISTRY

    if getattr(DATASET_REGISTRY.get(name), "random_test_split", False) and cfg.TEST.REPEATS > 1:
        return list(range(cfg.TEST.REPEATS))
    return [None]

def check_test_sets(cfg, model: nn.Module, build_test_loader: BuildTestLoader,
                    loaders: Optional[Loaders] = None) -> None:
    """Before the first iteration, what evaluation will need: every DATASETS.TESTS set loads (through
    ``build_test_loader``) with a usable query and gallery, each of its image files passes
    :func:`~fastreid.data.data_utils.check_image_file` (without decoding), and one test batch goes
    through ``model`` in eval mode. So a long run cannot train for hours and then die at its first
    evaluation for a reason knowable at its start. ``loaders`` (a dict) keeps the loaders built here
    for :func:`evaluate_test_sets`."""
    from fastreid.data.data_utils import check_image_file

    was_training = model.training
    for name in cfg.DATASETS.TESTS:
        loader, _ = cached_test_loader(build_test_loader, cfg, name, protocol_draws(cfg, name)[0], loaders)
        if not cfg.DATASETS.SKIP_CORRUPT:
            for path, *_ in loader.dataset.img_items:
                check_image_file(path)
        batch = next(iter(loader))
        try:
            model.eval()
            with torch.no_grad():
                model(batch)
        finally:
            model.train(was_training)
        logger.info("Test set %s checked: %d images, one batch of %s through the model", name,
                    len(loader.dataset), tuple(batch["images"].shape))

def check_input_sizes(cfg, model: nn.Module) -> None:
    """INPUT.SIZE_TRAIN and INPUT.SIZE_TEST each take one blank image through ``model`` (eval mode);
    a size too small for the model's strides and pools stops in one line naming the key and the
    smallest size the model takes (found by trying)."""
    for key in ("SIZE_TRAIN", "SIZE_TEST"):
        size = tuple(int(v) for v in cfg.INPUT[key])
        error = _fails_at(model, size)
        if error is None:
            continue
        smallest = _smallest_input(model, size)
        if smallest is None:  # no larger image goes through either: not a matter of size
            logger.debug("INPUT.%s: a blank image does not go through the model (%s)", key, error)
            continue
        raise ConfigValueError(
            f"INPUT.{key}: {list(size)} is too small for the model (MODEL.BACKBONE.NAME "
            f"{cfg.MODEL.BACKBONE.NAME}: {str(error).splitlines()[0][:160]}); expected at least "
            f"{list(smallest)} (height, width)", key=f"INPUT.{key}", value=list(size),
            expected=f">= {list(smallest)}")

def evaluate_test_sets(cfg, model: nn.Module, build_test_loader: BuildTestLoader, build_evaluator: BuildEvaluator,
                       loaders: Optional[Loaders] = None) -> Dict[str, Any]:
    """Evaluate ``model`` (an inference copy of it, :func:`~fastreid.modeling.inference.inference_model`)
    on every DATASETS.TESTS set, each draw of a randomly drawn protocol (averaged), with the loaders of
    ``build_test_loader`` and the evaluators of ``build_evaluator(cfg, name, num_query)``; ``loaders``
    (a dict, filled on first use) keeps the test loaders between calls, as a trainer's periodic
    evaluation does.

    Returns the metrics dict of the single test set, or ``{name: metrics}`` for several.
    """
    from fastreid.evaluation import average_results, inference_on_dataset, print_csv_format
    from fastreid.modeling.inference import inference_model

    model = inference_model(model)  # a folded copy: same features, faster; the trained model is untouched
    results: Dict[str, Any] = OrderedDict()
    for name in cfg.DATASETS.TESTS:
        draws = protocol_draws(cfg, name)
        runs = []
        for r in draws:
            logger.info("Evaluating on %s%s", name, f" (draw {r + 1}/{len(draws)})" if r is not None else "")
            loader, num_query = cached_test_loader(build_test_loader, cfg, name, r, loaders)
            evaluator = build_evaluator(cfg, name, num_query)
            runs.append(inference_on_dataset(model, loader, evaluator, flip_test=cfg.TEST.FLIP.ENABLED))
        res = runs[0] if len(runs) == 1 or not runs[0] else average_results(runs)
        results[name] = res
        if comm.is_main_process() and res:
            print_csv_format({name: res})
    return next(iter(results.values())) if len(results) == 1 else results


def _fails_at(model: nn.Module, size_hw: Tuple[int, int]) -> Optional[Exception]:
    """The RuntimeError (a pool or a kernel larger than its input) or ValueError (a head's own size check)
    one blank ``(1, 3, H, W)`` image raises in ``model`` (eval mode), else None (also when the model does
    not take a bare image tensor: nothing can be told then)."""
    param = next(model.parameters(), None)
    images = torch.zeros(1, 3, *size_hw, device=param.device if param is not None else "cpu")
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(images)
    except (RuntimeError, ValueError) as e:
        return e
    except Exception:
        return None
    finally:
        model.train(was_training)
    return None


def _smallest_side(runs, high: int) -> int:
    """The smallest ``x`` in ``1..high`` with ``runs(x)``, given ``runs(high)``."""
    low = 0  # runs(low) is taken to fail
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if runs(mid) else (mid, high)
    return high


def _smallest_input(model: nn.Module, size_hw: Tuple[int, int],
                    limit: int = 1024) -> Optional[Tuple[int, int]]:
    """The smallest (height, width) ``model`` takes, by trying: doubled from ``size_hw`` until an image
    goes through, then each side shrunk; None when nothing up to ``limit`` pixels a side does."""
    h, w = max(1, size_hw[0]), max(1, size_hw[1])
    while _fails_at(model, (h, w)) is not None:
        if max(h, w) >= limit:
            return None
        h, w = 2 * h, 2 * w
    h = _smallest_side(lambda x: _fails_at(model, (x, w)) is None, h)
    w = _smallest_side(lambda x: _fails_at(model, (h, x)) is None, w)
    return h, w
