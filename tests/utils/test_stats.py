"""fastreid.utils.stats: mean / spread and Welch's t against scipy's own test and a hand computation."""

import math
import statistics

import pytest
from scipy import stats

from fastreid.utils.stats import mean_std, welch


def test_mean_std_uses_the_sample_spread():
    s = mean_std([1.0, 2.0, 4.0])
    assert s["mean"] == pytest.approx(7 / 3) and s["std"] == pytest.approx(math.sqrt(7 / 3)) and s["n"] == 3
    assert mean_std([5.0])["std"] == 0.0


def test_welch_matches_scipy_and_the_satterthwaite_degrees_of_freedom():
    a, b = [36.8, 34.8, 40.2], [33.8, 33.4, 34.2]
    got = welch(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert got["t"] == pytest.approx(ref.statistic) and got["p"] == pytest.approx(ref.pvalue)
    va, vb = statistics.variance(a) / 3, statistics.variance(b) / 3
    assert got["df"] == pytest.approx((va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 2), rel=1e-12)
    assert welch([1.0], [2.0, 3.0]) is None and welch([1.0, 1.0], [2.0, 2.0]) is None
