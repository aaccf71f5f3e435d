"""fastreid.utils.stats: mean / spread and Welch's t (of values and of seeded rows) against scipy's own test and
a hand computation."""

import math
import statistics

import pytest
from scipy import stats

from fastreid.utils.stats import exceeds_noise, mean_std, pairwise_tests, seed_summary, welch, welch_rows


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


def _row(values, family="a"):
    return {"seeds": list(range(len(values))), "backbone": family, "mAP": seed_summary(values)}


def test_seed_summary_keeps_the_seeds_and_marks_an_empty_row_as_nan():
    s = seed_summary([30, 32, 34])
    assert s == {"per_seed": [30.0, 32.0, 34.0], "mean": 32.0, "std": 2.0}
    empty = seed_summary([])
    assert empty["per_seed"] == [] and math.isnan(empty["mean"]) and math.isnan(empty["std"])


def test_row_tests_read_the_per_seed_values_at_a_stated_level():
    a, b = _row([34, 36, 38]), _row([30, 32, 34])
    ref = stats.ttest_ind([34, 36, 38], [30, 32, 34], equal_var=False)
    test = welch_rows(a, b)
    assert test["diff"] == pytest.approx(4.0) and test["p"] == pytest.approx(ref.pvalue)  # p = 0.07
    assert exceeds_noise(a, b) is False and exceeds_noise(a, b, level=0.1) is True
    assert exceeds_noise(_row([30]), b) is None  # one seed: untestable


def test_pairwise_tests_pair_rows_of_one_group_only_in_row_order():
    rows = {"x": _row([30, 31, 32]), "y": _row([20, 21, 23]), "one": _row([25]), "z": _row([29, 32, 33]),
            "other": _row([40, 41, 42], family="b")}
    pairs = pairwise_tests(rows)
    assert [(t["a"], t["b"]) for t in pairs] == [("x", "y"), ("x", "z"), ("y", "z")]
    assert all(t["backbone"] == "a" for t in pairs)
    for t in pairs:
        ref = stats.ttest_ind(rows[t["a"]]["mAP"]["per_seed"], rows[t["b"]]["mAP"]["per_seed"], equal_var=False)
        assert t["t"] == pytest.approx(ref.statistic) and t["p"] == pytest.approx(ref.pvalue)
    rows["other"]["family"] = rows["x"]["family"] = "c"
    assert [(t["a"], t["b"]) for t in pairwise_tests({k: rows[k] for k in ("x", "other")}, group="family")] == [
        ("x", "other")]
