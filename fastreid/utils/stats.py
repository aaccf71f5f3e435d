"""Seeded-experiment statistics: mean and spread over seeds, and Welch's t-test between two rows.

A difference between two rows measured with a few seeds each is called real only at a stated level
(:data:`LEVEL` unless told): Welch's t (unequal variances) with its Welch-Satterthwaite degrees of
freedom and the two-sided p.

A *row* is one configuration of an experiment as a dict: ``row[metric] = {"per_seed": [...], "mean",
"std"}`` (:func:`seed_summary`) and ``row["seeds"]``, plus whatever the experiment records (a row's
family, e.g. its backbone). The tests read only ``per_seed``, so the rows of an old results file are
tested the same way. :mod:`fastreid.utils.report` writes them as tables and figures.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

__all__ = ["LEVEL", "mean_std", "welch", "seed_summary", "welch_rows", "exceeds_noise", "pairwise_tests"]

#: two rows' means differ beyond the seed noise when Welch's two-sided p is below this level
LEVEL = 0.05


def mean_std(values: Sequence[float]) -> Dict[str, float]:
    """Mean and sample standard deviation (n - 1; 0 for a single value) of ``values``."""
    n = len(values)
    if n == 0:
        raise ValueError("mean_std: no values")
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return {"mean": mean, "std": math.sqrt(var), "n": n}


def welch(a: Sequence[float], b: Sequence[float]) -> Optional[Dict[str, float]]:
    """Welch's t-test of mean(a) - mean(b): ``{"diff", "t", "df", "p"}`` (two-sided p from Student's t
    with the Welch-Satterthwaite degrees of freedom); None with fewer than 2 values on a side or no
    spread at all."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return None
    sa, sb = mean_std(a), mean_std(b)
    va, vb = sa["std"] ** 2 / len(a), sb["std"] ** 2 / len(b)
    if va + vb == 0:
        return None
    t = (sa["mean"] - sb["mean"]) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return {"diff": sa["mean"] - sb["mean"], "t": t, "df": df, "p": float(2 * stats.t.sf(abs(t), df))}


def seed_summary(values: Sequence[float]) -> Dict[str, Any]:
    """``{"per_seed", "mean", "std"}`` of one metric over the seeds of a row (sample std; NaN mean and
    std for a row without finished seeds, which a table shows as empty)."""
    vals = [float(v) for v in values]
    if not vals:
        return {"per_seed": [], "mean": float("nan"), "std": float("nan")}
    stat = mean_std(vals)
    return {"per_seed": vals, "mean": stat["mean"], "std": stat["std"]}


def welch_rows(a: Mapping[str, Any], b: Mapping[str, Any], metric: str = "mAP") -> Optional[Dict[str, float]]:
    """Welch's t-test (:func:`welch`) of row ``a``'s mean ``metric`` minus row ``b``'s over their seeds;
    None with fewer than two seeds on either side or no spread on both."""
    return welch(a[metric]["per_seed"], b[metric]["per_seed"])


def exceeds_noise(a: Mapping[str, Any], b: Mapping[str, Any], metric: str = "mAP",
                  level: float = LEVEL) -> Optional[bool]:
    """True when the mean ``metric`` of rows ``a`` and ``b`` differ beyond the seed noise at ``level``:
    Welch's two-sided p below ``level``; None when untestable (see :func:`welch_rows`)."""
    test = welch_rows(a, b, metric)
    return None if test is None else test["p"] < level


def pairwise_tests(rows: Mapping[str, Mapping[str, Any]], metric: str = "mAP",
                   group: str = "backbone") -> List[Dict[str, Any]]:
    """Welch's test (:func:`welch_rows`) of every pair of testable rows (two seeds or more) whose
    ``group`` field is the same (``a`` before ``b`` in row order): each test's dict with ``a``, ``b``
    and ``group``'s value under its own name."""
    names = [n for n, r in rows.items() if len(r["seeds"]) > 1]
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if rows[a][group] != rows[b][group]:
                continue
            test = welch_rows(rows[a], rows[b], metric)
            if test is not None:
                out.append(dict(test, a=a, b=b, **{group: rows[a][group]}))
    return out
