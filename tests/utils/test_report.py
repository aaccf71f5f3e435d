"""fastreid.utils.report: markdown tables, the wording of seed statistics and tests, the seeded bar figure."""

from PIL import Image

from fastreid.utils.report import (
    format_mean_std,
    format_p,
    format_range,
    format_test,
    markdown_table,
    noise_test_note,
    plot_seed_bars,
)
from fastreid.utils.stats import seed_summary


def test_markdown_table_has_a_header_a_separator_and_a_line_per_row():
    text = markdown_table(["model", "mAP"], [["osnet", 40.0], ["msinet", "-"]])
    assert text == "| model | mAP |\n|---|---|\n| osnet | 40.0 |\n| msinet | - |"
    assert markdown_table(["a"], []) == "| a |\n|---|"


def test_cells_say_mean_and_std_over_seeds_and_one_value_for_one_seed():
    assert format_mean_std(seed_summary([30, 32, 34])) == "32.0 ± 2.0"
    assert format_mean_std(seed_summary([30.04])) == "30.0"
    assert format_p(0.0004) == "p < 0.001" and format_p(0.0704) == "p = 0.070"
    assert format_test({"diff": 4.0, "t": 2.449, "df": 4.0, "p": 0.07}) == "+4.0, t = 2.45, df = 4.0, p = 0.070"
    row = {"params": 2_325_620, "params_per_seed": [2_325_620, 2_323_439]}
    assert format_range(row, "params", 1e6, ".2f") == "2.32-2.33"
    assert format_range({"params": 2_325_620}, "params", 1e6, ".2f") == "2.33"  # no per-seed values
    assert "p < 0.05" in noise_test_note(0.05) and "1 in 20" in noise_test_note(0.05)


def test_the_bar_figure_has_a_panel_per_metric_and_leaves_no_temp_file(tmp_path):
    rows = {name: {"seeds": [0, 1], "mAP": seed_summary(v), "Rank-1": seed_summary(v)}
            for name, v in (("a", [30, 32]), ("b", [20, 21]))}
    rows["unfinished"] = {"seeds": [], "mAP": seed_summary([]), "Rank-1": seed_summary([])}
    colours = []
    path = tmp_path / "results.png"
    plot_seed_bars(rows, str(path), colour_of=lambda name, row: colours.append(name) or "#123456", title="t")
    assert colours == ["a", "b", "a", "b"]  # rows without seeds are left out, one bar per metric panel
    assert Image.open(path).size[0] > 0 and [p.name for p in tmp_path.iterdir()] == ["results.png"]
