"""DefaultPredictor: strict weight loading, eval mode, 0..255 input, unit-length CPU features."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from model_files import SIZE_HW, make_checkpoint, tiny_model, write_config
from PIL import Image

from fastreid.config import get_cfg
from fastreid.engine.predictor import DefaultPredictor, list_images, read_image
from fastreid.modeling.meta_arch.build import build_model


@pytest.fixture(scope="module")
def osnet_model(tmp_path_factory):
    """(config path, checkpoint path) of a tiny OSNet + EmbeddingHead, saved as the trainer saves."""
    return tiny_model(tmp_path_factory.mktemp("osnet"))


def _cfg(config, weights, **overrides):
    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(config))
    cfg.MODEL.WEIGHTS = str(weights)
    for k, v in overrides.items():
        cfg.merge_from_list([k, v])
    return cfg


def _reference_model(config, weights):
    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(config))
    torch.manual_seed(123)  # a different init: only the checkpoint can make outputs agree
    model = build_model(cfg).eval()
    state = torch.load(weights, map_location="cpu", weights_only=False)["model"]
    model.load_state_dict(state)
    return model


def test_features_equal_normalised_checkpoint_model_output(osnet_model):
    config, weights = osnet_model
    predictor = DefaultPredictor(_cfg(config, weights))
    assert not predictor.model.training
    x = torch.rand(3, 3, *SIZE_HW, generator=torch.Generator().manual_seed(1)) * 255
    feats = predictor(x)
    with torch.no_grad():
        expected = F.normalize(_reference_model(config, weights)(x), dim=1)
    assert feats.device.type == "cpu" and feats.shape == expected.shape
    assert torch.allclose(feats, expected, atol=1e-5)
    assert torch.allclose(feats.norm(dim=1), torch.ones(3), atol=1e-5)


def test_flip_averages_image_and_mirror_features(osnet_model):
    config, weights = osnet_model
    plain = DefaultPredictor(_cfg(config, weights))
    flip = DefaultPredictor(_cfg(config, weights, **{"TEST.FLIP.ENABLED": "True"}))
    x = torch.rand(2, 3, *SIZE_HW, generator=torch.Generator().manual_seed(2)) * 255
    with torch.no_grad():
        expected = F.normalize(plain.model(x) + plain.model(x.flip(3)), dim=1)
    assert torch.allclose(flip(x), expected, atol=1e-5)


def test_checkpoint_of_another_shape_is_rejected(tmp_path, osnet_model):
    from fastreid.utils.checkpoint import CheckpointError

    other = make_checkpoint(write_config(tmp_path, "osnet", num_classes=7), tmp_path)
    with pytest.raises(CheckpointError, match="classifier"):
        DefaultPredictor(_cfg(osnet_model[0], other))


def test_missing_weights_file_names_it(osnet_model):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        DefaultPredictor(_cfg(osnet_model[0], "nope.pth"))


def test_read_image_is_bicubic_resize_on_0_255_scale(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (100, 40, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "a.png")
    t = read_image(str(tmp_path / "a.png"), SIZE_HW)
    expected = np.asarray(Image.fromarray(arr).resize((SIZE_HW[1], SIZE_HW[0]), Image.BICUBIC), np.float32)
    assert t.shape == (3, *SIZE_HW) and t.dtype == torch.float32
    assert torch.equal(t, torch.from_numpy(expected).permute(2, 0, 1))
    assert t.max() > 1.5  # not divided by 255


def test_read_image_equals_the_test_loader_transform(tmp_path):
    from fastreid.data.data_utils import read_image as read_rgb
    from fastreid.data.transforms import build_transforms

    Image.fromarray(np.random.default_rng(1).integers(0, 256, (90, 50, 3), dtype=np.uint8)).save(tmp_path / "b.png")
    cfg = get_cfg(plugins=True)
    cfg.INPUT.SIZE_TEST = list(SIZE_HW)
    expected = build_transforms(cfg, is_train=False)(read_rgb(str(tmp_path / "b.png")))
    assert torch.equal(read_image(str(tmp_path / "b.png"), SIZE_HW), expected)


def test_run_on_files_matches_batched_call_in_path_order(tmp_path, osnet_model):
    for i in range(5):
        Image.fromarray(np.full((30, 20, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    paths = list_images(str(tmp_path))
    assert [p.rsplit("/", 1)[1] for p in paths] == [f"{i}.png" for i in range(5)]
    predictor = DefaultPredictor(_cfg(*osnet_model))
    calls = []
    feats = predictor.run_on_files(paths, batch_size=2, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(2, 5), (4, 5), (5, 5)]
    direct = predictor(torch.stack([read_image(p, SIZE_HW) for p in paths]))
    assert torch.allclose(feats, direct, atol=1e-5)
