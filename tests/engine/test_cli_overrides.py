"""One config-override convention on every command line: bare trailing KEY VALUE pairs or ``--opts``."""

import importlib.util
from pathlib import Path

import pytest

from fastreid.engine import default_argument_parser

REPO = Path(__file__).resolve().parents[2]
PAIRS = ["SOLVER.BASE_LR", "0.01", "INPUT.SIZE_TEST", "256,128"]


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(f"cli_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parsers():
    """name -> a function parsing argv into a namespace, for every command that takes overrides."""
    out = {"train_net": default_argument_parser().parse_args}
    for name in ("extract_features", "query", "export_onnx", "visualize_ranks"):
        out[name] = _module(REPO / "tools" / f"{name}.py").get_parser().parse_args
    out["benchmark_pku"] = _module(REPO / "tools" / "benchmark_pku.py").parse_args
    out["compare_genotypes"] = _module(REPO / "projects" / "MSINet" / "tools" / "compare_genotypes.py").parse_args
    return out


PARSERS = _parsers()
# the flags each command needs before the overrides (its required options)
CONFIG = ["--config-file", "c.yml"]
REQUIRED = {
    "extract_features": CONFIG + ["--input", "a.jpg", "--output", "f.npz"],
    "query": CONFIG + ["--query", "q.jpg", "--gallery-features", "g.npz"],
    "export_onnx": CONFIG + ["--output", "m.onnx"],
    "compare_genotypes": CONFIG + ["--output", "out"],
    "visualize_ranks": CONFIG + ["--dataset", "Market1501"],
    "benchmark_pku": ["--epochs", "2"],
}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_both_spellings_give_the_same_overrides(name):
    head = REQUIRED.get(name, CONFIG)
    parse = PARSERS[name]
    assert parse(head + PAIRS).opts == PAIRS
    assert parse(head + ["--opts"] + PAIRS).opts == PAIRS
    assert parse(head + PAIRS[:2] + ["--opts"] + PAIRS[2:]).opts == PAIRS
    assert parse(head).opts == []


def test_opts_is_needed_only_after_an_option_of_several_words():
    parse = PARSERS["query"]
    args = parse(["--config-file", "c.yml", "--gallery-features", "g.npz", "--query", "a.jpg", "b.jpg",
                  "--opts"] + PAIRS)
    assert args.query == ["a.jpg", "b.jpg"] and args.opts == PAIRS


def test_a_config_key_swallowed_as_an_image_path_gets_a_hint(tmp_path):
    from fastreid.data.image_lists import collect_images
    from fastreid.utils.errors import ToolError

    (tmp_path / "a.jpg").write_bytes(b"")
    with pytest.raises(ToolError, match=r"--query: 'SOLVER.BASE_LR' looks like a config key.*--opts"):
        collect_images([str(tmp_path / "a.jpg"), "SOLVER.BASE_LR", "0.01"], what="--query")
    with pytest.raises(ToolError, match="no such file or folder: missing.jpg"):
        collect_images(["missing.jpg"], what="--query")
