"""projects/MSINet/tools/benchmark_search.py runs at a tiny size and reports consistent timings and parameter counts."""

import importlib.util
import json
from pathlib import Path

import torch

TOOL = Path(__file__).resolve().parents[2] / "projects" / "MSINet" / "tools" / "benchmark_search.py"


def test_benchmark_search_reports_a_table_and_json(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("benchmark_search", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / "bench.json"
    threads = torch.get_num_threads()
    try:
        report = tool.main(["--batch", "4", "--size", "32", "16", "--threads", "1", "--repeats", "1",
                            "--warmup", "0", "--classes", "8", "--json", str(out)])
    finally:
        torch.set_num_threads(threads)
    res = report["results"]
    assert json.loads(out.read_text())["results"] == res
    for key in ("search_iteration_s", "arch_step_s", "weight_step_s", "msinet_training_iteration_s"):
        assert res[key] > 0
    assert res["ratio_search_to_training"] == res["search_iteration_s"] / res["msinet_training_iteration_s"]
    assert res["supernet_params"] == 1_687_590 + 48  # weights + alpha (12 x 4)
    printed = capsys.readouterr().out
    assert "MSINet training iteration" in printed and "command: python projects/MSINet/tools/benchmark_search.py" in printed
