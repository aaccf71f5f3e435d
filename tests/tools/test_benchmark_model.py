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


def test_the_profile_sorts_time_by_kind_of_layer_with_exact_multiply_adds():
    import torch
    import torch.nn as nn

    bench = load_tool("benchmark_model")
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 1, bias=False),
                        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 4, 1)).eval()
    rows = {r["kind"]: r for r in bench.profile_layers(net, torch.rand(2, 3, 16, 8), repeats=2)}
    pixels = 2 * 16 * 8
    assert rows["dense 3x3 conv"]["gmacs"] * 1e9 == pytest.approx(pixels * 8 * 3 * 9)
    assert rows["depthwise 3x3 conv"]["gmacs"] * 1e9 == pytest.approx(pixels * 8 * 9)
    assert rows["1x1 conv"]["gmacs"] * 1e9 == pytest.approx(pixels * (8 * 8 + 4 * 8))  # two 1x1 convs
    assert rows["1x1 conv"]["calls"] == 2 and rows["depthwise 3x3 conv"]["calls"] == 1
    assert sum(r["share"] for r in rows.values()) == pytest.approx(1.0)
    assert all(r["gmac_per_s"] > 0 for r in rows.values() if r["gmacs"])
    table = bench.format_profile("net", list(rows.values()), top=2)
    assert "| depthwise 3x3 conv |" in table or "other ops" in table
