"""tools/export_onnx.py: dynamic batch axis, raw 0..255 input, ONNX Runtime agrees with PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from model_files import SIZE_HW, make_checkpoint, write_config
from tools_testlib import load_tool

from fastreid.utils.testing import assert_within_float32_rounding

tool = load_tool("export_onnx")


def _run(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["features"], {"images": x.numpy()})[0]


def test_osnet_export_matches_predictor_at_batch_1_and_3(tmp_path, osnet_model, capsys):
    from fastreid.config import get_cfg
    from fastreid.engine.predictor import DefaultPredictor

    config, weights = osnet_model
    out = tmp_path / "m.onnx"
    assert tool.main(["--output", str(out), "--config-file", str(config), "--weights", str(weights)]) == 0
    printed = capsys.readouterr().out
    assert "batch 1:" in printed and "batch 3:" in printed and "max abs difference" in printed
    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(config))
    cfg.MODEL.WEIGHTS = str(weights)
    predictor = DefaultPredictor(cfg)
    for b in (1, 3):  # raw 0..255 pixels in, unit-length features out, like the predictor
        x = torch.rand(b, 3, *SIZE_HW, generator=torch.Generator().manual_seed(b)) * 255
        got = _run(out, x)
        assert got.shape == (b, 512)
        # ONNX Runtime's kernels: the predictor's exact (float64) features up to float32 rounding
        assert_within_float32_rounding(torch.from_numpy(got), lambda m, x=x: F.normalize(m(x.double()), dim=1),
                                       predictor.model)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_an_existing_output_is_kept_when_the_inputs_are_bad_or_the_check_fails(tmp_path, osnet_model):
    config, weights = osnet_model
    out = tmp_path / "deployed.onnx"
    out.write_bytes(b"the model in production")
    with pytest.raises(SystemExit, match="--images: no such file"):
        tool.main(["--output", str(out), "--config-file", str(config), "--weights", str(weights),
                   "--images", str(tmp_path / "missing.jpg")])
    assert out.read_bytes() == b"the model in production"
    with pytest.raises(SystemExit, match="above --tolerance"):  # nothing passes: the check fails after the export
        tool.main(["--output", str(out), "--config-file", str(config), "--weights", str(weights), "--tolerance", "-1"])
    assert out.read_bytes() == b"the model in production"
    assert sorted(p.name for p in tmp_path.iterdir() if "onnx" in p.name) == ["deployed.onnx"]  # no temp left


def test_difference_above_tolerance_fails_loudly(tmp_path, osnet_model):
    from fastreid.config import get_cfg
    from fastreid.modeling.meta_arch.build import build_model

    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(osnet_model[0]))
    model = build_model(cfg).eval()
    graph = tool.FeatureGraph(model).eval()
    out = tmp_path / "m.onnx"
    tool.export(graph, str(out), SIZE_HW)
    with torch.no_grad():  # the PyTorch side drifts away from what was exported
        next(model.backbone.parameters()).add_(0.5)
    x = [torch.rand(2, 3, *SIZE_HW) * 255]
    with pytest.raises(tool.ToolError, match="differs from PyTorch by .* above --tolerance"):
        tool.verify(graph, str(out), x, tolerance=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("backbone, head", [
    ("resnet50", "EmbeddingHead"),
    ("msinet", "FBLNeck"),
])
def test_other_backbones_export_with_dynamic_batch(tmp_path, backbone, head):
    config = write_config(tmp_path, backbone, head)
    weights = make_checkpoint(config, tmp_path)
    out = tmp_path / f"{backbone}.onnx"
    assert tool.main(["--output", str(out), "--config-file", str(config), "--weights", str(weights)]) == 0
    assert _run(out, torch.rand(1, 3, *SIZE_HW) * 255).shape[0] == 1
    if backbone == "msinet":  # exported with unfused cells (ONNX Runtime runs those faster): one Conv per conv
        import onnx

        from fastreid.engine.predictor import DefaultPredictor

        convs = sum(n.op_type == "Conv" for n in onnx.load(str(out)).graph.node)
        cfg = tool.load_cfg(str(config), str(weights), [], "cpu", False)
        unfused, fused = DefaultPredictor(cfg, fuse_blocks=False).model, DefaultPredictor(cfg).model
        n_unfused, n_fused = (sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) for net in (unfused, fused))
        gate_calls = 2 * sum(type(m).__name__ == "ChannelGate" for m in unfused.modules())  # one gate, two branches
        assert n_fused < n_unfused and convs == n_unfused + gate_calls


def test_an_output_that_is_a_folder_is_a_one_line_error(tmp_path, osnet_model):
    """Issue 24 item 7: --output naming a folder stops before the export, in one line."""
    config, weights = osnet_model
    with pytest.raises(SystemExit, match=f"^error: --output: {tmp_path} is a folder; expected the path "
                                         "of the ONNX file to write"):
        tool.main(["--output", str(tmp_path), "--config-file", str(config), "--weights", str(weights)])
    assert list(tmp_path.iterdir()) == []
