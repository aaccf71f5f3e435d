"""Every tool answers --help with its usage and exits 0, through its importable main(argv)."""

import pytest
from tools_testlib import load_tool

TOOLS = {
    "extract_features": "--dataset",
    "query": "--gallery-features",
    "export_onnx": "--tolerance",
    "visualize_ranks": "--order",
    "activation_maps": "--model",
    "collect_results": "--json",
}


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_help_lists_the_options(name, capsys):
    with pytest.raises(SystemExit) as e:
        load_tool(name).main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:") and TOOLS[name] in out
