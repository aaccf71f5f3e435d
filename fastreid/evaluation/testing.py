"""Reporting helpers: result tables, flattening, averaging repeats, checking expected numbers."""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

__all__ = ["print_csv_format", "flatten_results_dict", "average_results", "verify_results"]

logger = logging.getLogger(__name__)

_COLUMNS = ("Rank-1", "Rank-5", "Rank-10", "mAP", "mINP", "metric")


def print_csv_format(results: Mapping) -> str:
    """Log (and return) a pipe table Dataset | Rank-1 | Rank-5 | Rank-10 | mAP | mINP | metric.

    ``results`` is either one dataset's metrics (optionally with a "dataset" name) or a mapping
    dataset name -> metrics. Extra keys (e.g. TPR@FPR=...) get their own columns.
    """
    if results and all(isinstance(v, Mapping) for v in results.values()):
        table = OrderedDict((name, dict(m)) for name, m in results.items())
    else:
        metrics = dict(results)
        table = OrderedDict([(str(metrics.pop("dataset", "-")), metrics)])
    extra = [k for m in table.values() for k in m if k not in _COLUMNS]
    columns = [c for c in _COLUMNS if any(c in m for m in table.values())] + list(OrderedDict.fromkeys(extra))
    lines = ["| Dataset | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
    for name, m in table.items():
        cells = [f"{m[c]:.2f}" if isinstance(m.get(c), (int, float)) else "-" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    logger.info("Evaluation results in csv format:\n%s", text)
    return text


def flatten_results_dict(results: Mapping, prefix: str = "") -> Dict[str, float]:
    """{"a": {"b": 1}} -> {"a/b": 1}."""
    flat = {}
    for k, v in results.items():
        key = f"{prefix}/{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            flat.update(flatten_results_dict(v, key))
        else:
            flat[key] = v
    return flat


def average_results(results: Sequence[Mapping[str, float]]) -> "OrderedDict[str, float]":
    """Key-wise mean of several result dicts (VehicleID-style repeated gallery draws)."""
    if len(results) == 0:
        raise ValueError("average_results: got 0 result dicts; expected at least one")
    keys = list(results[0].keys())
    for i, r in enumerate(results[1:], 1):
        if list(r.keys()) != keys:
            raise ValueError(f"average_results: dict {i} has keys {sorted(r)}; expected {sorted(keys)}")
    return OrderedDict((k, sum(float(r[k]) for r in results) / len(results)) for k in keys)


def verify_results(results: Mapping, expected: Iterable[Tuple[str, str, float, float]]) -> bool:
    """Check (dataset, metric, value, tolerance) tuples against ``results`` (dataset -> metrics).

    Returns False (and logs each mismatch) when a value is missing or off by more than the tolerance.
    """
    ok = True
    mismatches: List[str] = []
    for dataset, metric, value, tol in expected:
        actual = results.get(dataset, {}).get(metric)
        if actual is None or abs(float(actual) - value) > tol:
            ok = False
            mismatches.append(f"{dataset}/{metric}: got {actual}, expected {value} +- {tol}")
    for line in mismatches:
        logger.error("Result mismatch: %s", line)
    return ok
