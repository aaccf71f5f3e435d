"""tools/extract_features.py: folders / list files -> a .npz of paths and unit-length features."""

import numpy as np
import pytest
import torch
from model_files import SIZE_HW
from tools_testlib import load_tool

from fastreid.config import get_cfg
from fastreid.engine.predictor import DefaultPredictor, read_image

tool = load_tool("extract_features")


def test_folder_features_match_the_predictor(tmp_path, osnet_model, colour_folder):
    config, weights = osnet_model
    out = tmp_path / "feats.npz"
    assert tool.main(["--input", str(colour_folder), "--output", str(out), "--batch-size", "5",
                      "--config-file", str(config), "--weights", str(weights)]) == 0
    data = np.load(out)
    paths = [str(p) for p in data["paths"]]
    assert len(paths) == 12 and paths == sorted(paths)
    assert list(data["size_hw"]) == list(SIZE_HW)
    feats = data["features"]
    assert feats.shape == (12, 512) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(config))
    cfg.MODEL.WEIGHTS = str(weights)
    expected = DefaultPredictor(cfg)(torch.stack([read_image(p, SIZE_HW) for p in paths[:3]]))
    np.testing.assert_allclose(feats[:3], expected.numpy(), atol=1e-5)


def test_list_file_paths_are_relative_to_the_list(tmp_path, osnet_model, colour_folder):
    config, weights = osnet_model
    lst = colour_folder / "list.txt"
    lst.write_text("# two images\n002/c0_0.png\n\n001/c1_1.png  # trailing comment\n")
    out = tmp_path / "sub" / "f.npz"
    tool.main(["--input", str(lst), "--output", str(out), "--config-file", str(config), "--weights", str(weights)])
    paths = [str(p) for p in np.load(out)["paths"]]
    assert [p.split("images/")[1] for p in paths] == ["002/c0_0.png", "001/c1_1.png"]


def test_without_weights_is_a_one_line_error(tmp_path, osnet_model, colour_folder):
    with pytest.raises(SystemExit, match="no weights .* --weights FILE"):
        tool.main(["--input", str(colour_folder), "--output", str(tmp_path / "f.npz"),
                   "--config-file", str(osnet_model[0])])


@pytest.mark.parametrize("bad, message", [
    ("missing_dir", "no such file or folder: .*missing_dir"),
    ("list.txt", "list.txt:1: image file not found: ghost.png"),
])
def test_missing_inputs_are_named(tmp_path, osnet_model, bad, message):
    (tmp_path / "list.txt").write_text("ghost.png\n")
    with pytest.raises(SystemExit, match=message):
        tool.main(["--input", str(tmp_path / bad), "--output", str(tmp_path / "f.npz"),
                   "--config-file", str(osnet_model[0]), "--weights", str(osnet_model[1])])


def test_training_yaml_without_class_count_takes_it_from_the_checkpoint(tmp_path, osnet_model, colour_folder):
    import torch

    cfg = tmp_path / "c.yml"
    cfg.write_text("MODEL:\n  DEVICE: cpu\n  BACKBONE:\n    NAME: osnet\nINPUT:\n  SIZE_TEST: [64, 32]\n")
    out = tmp_path / "f.npz"
    tool.main(["--input", str(colour_folder), "--output", str(out), "--config-file", str(cfg),
               "--weights", str(osnet_model[1])])
    assert np.load(out)["features"].shape == (12, 512)
    bare = tmp_path / "bare.pth"  # a plain state_dict does not say how many classes it was trained on
    torch.save(torch.load(osnet_model[1], weights_only=False)["model"], bare)
    with pytest.raises(SystemExit, match="NUM_CLASSES is 0 and checkpoint .*bare.pth gives no class count"):
        tool.main(["--input", str(colour_folder), "--output", str(out), "--config-file", str(cfg),
                   "--weights", str(bare)])


def test_an_unreadable_image_is_named_without_advice_the_tool_ignores(tmp_path, osnet_model, colour_folder):
    """Issue 24 item 8: the tools read the files they are given whatever DATASETS.SKIP_CORRUPT says, so
    they do not advise it."""
    bad = colour_folder / "002" / "c1_1.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(SystemExit, match=f"cannot read image {bad}: .*leave it out of the input") as e:
        tool.main(["--input", str(colour_folder), "--output", str(tmp_path / "f.npz"),
                   "--config-file", str(osnet_model[0]), "--weights", str(osnet_model[1])])
    assert "SKIP_CORRUPT" not in str(e.value)


@pytest.mark.parametrize("content", [b"paths,features\n1,2\n", b"\x80\x04K\x01."])
def test_a_file_that_is_not_a_features_file_is_named_as_such(tmp_path, content):
    """Issue 24 item 8: a text (or pickle) file given as a features file: one line, no unpickling advice."""
    from fastreid.evaluation.feature_files import load_features
    from fastreid.utils.errors import ToolError

    path = tmp_path / "gallery.npz"
    path.write_bytes(content)
    with pytest.raises(ToolError, match=f"^{path}: not a features file .*; expected the .npz file written by "
                                        "tools/extract_features.py$") as e:
        load_features(str(path))
    assert "allow_pickle" not in str(e.value)
