"""tools/query.py: top-k with distances, strips and HTML (the search itself: tests/evaluation/test_retrieval.py)."""

import json

import pytest
from PIL import Image
from tools_testlib import load_tool

from fastreid.utils.visualizer import MATCH_COLOR

tool = load_tool("query")


def test_query_finds_itself_first_and_writes_results(tmp_path, osnet_model, colour_folder, capsys):
    config, weights = osnet_model
    query = colour_folder / "003" / "c0_0.png"
    out = tmp_path / "out"
    assert tool.main(["--gallery", str(colour_folder), "--query", str(query), "--topk", "4",
                      "--output", str(out), "--strip", "--html", "--same-folder-is-match",
                      "--config-file", str(config), "--weights", str(weights)]) == 0
    res = json.loads((out / "results.json").read_text())["queries"]
    assert len(res) == 1 and len(res[0]["results"]) == 4
    top = res[0]["results"][0]
    assert top["path"].endswith("003/c0_0.png") and abs(top["distance"]) < 1e-4
    dists = [h["distance"] for h in res[0]["results"]]
    assert dists == sorted(dists)
    printed = capsys.readouterr().out
    assert "query " in printed and "003/c0_0.png" in printed

    strip = Image.open(next(out.glob("query_0000_*.png"))).convert("RGB")
    tile_w = 64 + 8
    assert strip.size == (5 * tile_w + 4 * 6 + 6, 128 + 8 + 16)
    assert strip.getpixel((tile_w + 12 + 1, 1)) == MATCH_COLOR  # the self-match is framed green
    html = (out / "results.html").read_text()
    assert html.count("<img") == 5


def test_gallery_features_file_is_searched_without_re_extraction(tmp_path, osnet_model, colour_folder):
    config, weights = osnet_model
    feats = tmp_path / "g.npz"
    load_tool("extract_features").main(["--input", str(colour_folder), "--output", str(feats),
                                        "--config-file", str(config), "--weights", str(weights)])
    out = tmp_path / "out"
    tool.main(["--gallery-features", str(feats), "--query", str(colour_folder / "001" / "c1_1.png"),
               "--topk", "2", "--output", str(out), "--no-faiss",
               "--config-file", str(config), "--weights", str(weights)])
    res = json.loads((out / "results.json").read_text())["queries"][0]["results"]
    assert res[0]["path"].endswith("001/c1_1.png")


def test_bad_topk_and_missing_query_are_one_line_errors(tmp_path, osnet_model, colour_folder):
    base = ["--gallery", str(colour_folder), "--config-file", str(osnet_model[0]), "--weights", str(osnet_model[1])]
    with pytest.raises(SystemExit, match="--topk: 0"):
        tool.main(base + ["--query", str(colour_folder), "--topk", "0"])
    with pytest.raises(SystemExit, match="--query: no such file or folder: .*nothing.png"):
        tool.main(base + ["--query", str(tmp_path / "nothing.png")])
