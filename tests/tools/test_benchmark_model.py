"""tools/benchmark_model.py on a tiny input: every column is measured for both ResNet-50 references, the
ratios are ratios of the same run, and ONNX is exported from the folded inference model."""

import json

import pytest
from tools_testlib import load_tool


def test_the_benchmark_reports_both_references(tmp_path):
    bench = load_tool("benchmark_model")
    out = tmp_path / "bench.json"
    results = bench.main(["--models", "osnet", "resnet50", "resnet50_tv", "--batch", "2", "--size", "64", "32",
                          "--threads", "1", "--repeats", "1", "--ablate-fusions", "--json", str(out)])
    assert json.loads(out.read_text())["results"] == results
    timings = [key for key, _ in bench.TIMINGS]
    for name, row in results.items():
        for key in timings:
            assert row[key] > 0, (name, key)
            assert row[key[:-2] + "_ratio"] == pytest.approx(row[key] / results["resnet50"][key])
            assert row[key[:-2] + "_ratio_tv"] == pytest.approx(row[key] / results["resnet50_tv"][key])
    assert results["resnet50_tv"]["eager_ratio_tv"] == 1.0
    # the references differ as their definitions do: last stride 1 costs more multiply-adds than 2
    assert results["resnet50"]["macs_G"] > 1.5 * results["resnet50_tv"]["macs_G"]
    assert results["osnet"]["params_without_classifier"] < results["resnet50_tv"]["params_without_classifier"] / 5


def test_the_table_prints_a_dash_for_what_was_not_measured():
    bench = load_tool("benchmark_model")
    table = bench.format_table({"m": {"macs_G": 1.0, "eager_s": 0.5}})
    assert "| m | 1.00 | 0.500 |" in table and "ONNX" not in table
