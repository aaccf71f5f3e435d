"""Seeded-experiment statistics: mean and spread over seeds, and Welch's t-test between two rows.

A difference between two rows measured with a few seeds each is called real only at a stated level:
Welch's t (unequal variances) with its Welch-Satterthwaite degrees of freedom and the two-sided p.
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Sequence

__all__ = ["mean_std", "welch"]


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
