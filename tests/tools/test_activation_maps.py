"""tools/activation_maps.py: MSINet next to another model, one overlay row per model."""

import numpy as np
import pytest
import torch
from model_files import SIZE_HW, make_checkpoint, write_config
from PIL import Image
from tools_testlib import load_tool

tool = load_tool("activation_maps")


@pytest.fixture(scope="module")
def msinet_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("msinet")
    config = write_config(folder, "msinet", "FBLNeck")
    return config, make_checkpoint(config, folder)


def test_final_feature_map_is_the_backbone_output(osnet_model):
    from fastreid.config import get_cfg
    from fastreid.modeling.meta_arch.build import build_model

    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(osnet_model[0]))
    model = build_model(cfg).eval()
    x = torch.rand(2, 3, *SIZE_HW) * 255
    fmap = tool.final_feature_maps(model, x)
    with torch.no_grad():
        expected = model.backbone((x - model.pixel_mean) / model.pixel_std)["final"]
    assert torch.allclose(fmap, expected, atol=1e-5)


def test_figure_has_input_row_and_one_row_per_model(tmp_path, osnet_model, msinet_model, pku_images):
    out = tmp_path / "figs" / "act.png"
    cell = (96, 48)
    args = ["--images", *map(str, pku_images[:3]), "--output", str(out), "--cell-size", *map(str, cell),
            "--model", "OSNet", *map(str, osnet_model), "--model", "MSINet", *map(str, msinet_model)]
    assert tool.main(args) == 0
    img = Image.open(out)
    label_w, title_h = 120, 30  # pixels at 100 dpi, as drawn by draw_figure
    assert img.size == (label_w + 3 * cell[1], title_h + 3 * cell[0])
    arr = np.asarray(img.convert("RGB")).astype(int)
    # the overlay rows are tinted by the heat map: they differ from the input row above them
    first_col = slice(label_w + 5, label_w + cell[1] - 5)
    inputs = arr[title_h + 5:title_h + cell[0] - 5, first_col]
    osnet_row = arr[title_h + cell[0] + 5:title_h + 2 * cell[0] - 5, first_col]
    assert np.abs(inputs - osnet_row).mean() > 10


def test_untrained_model_needs_explicit_flag(tmp_path, osnet_model, pku_images):
    args = ["--images", str(pku_images[0]), "--output", str(tmp_path / "a.png"),
            "--model", "OSNet", str(osnet_model[0]), "-"]
    with pytest.raises(SystemExit, match="no weights"):
        tool.main(args)
    assert tool.main(args + ["--random-weights"]) == 0
