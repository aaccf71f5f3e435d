"""Transforms: shape, 0..255 range, erasing fill and aspect-ratio sampling, interpolation."""

import numpy as np
import pytest
import torch
from PIL import Image

from fastreid.data.transforms import build_transforms


@pytest.fixture
def img():
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 20, 3), dtype=np.uint8))


def test_train_transform_shape_and_range(cfg, img):
    cfg.INPUT.SIZE_TRAIN = [64, 32]
    for key in ("FLIP", "PADDING", "CJ", "REA", "AUTOAUG"):
        cfg.INPUT[key].ENABLED = True
    cfg.INPUT.AUTOAUG.PROB = 1.0
    t = build_transforms(cfg, is_train=True)
    for seed in range(5):
        torch.manual_seed(seed)
        out = t(img)
        assert out.shape == (3, 64, 32) and out.dtype == torch.float32
        assert out.min() >= 0 and out.max() <= 255 and out.max() > 1.5  # 0..255, not 0..1


def test_test_transform_is_resize_only(cfg, img):
    cfg.INPUT.SIZE_TEST = [40, 20]
    cfg.INPUT.FLIP.ENABLED = cfg.INPUT.REA.ENABLED = True
    out = build_transforms(cfg, is_train=False)(img)
    assert torch.equal(out, torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1))


def test_random_erasing_fills_with_pixel_mean_within_max_area(cfg):
    cfg.INPUT.SIZE_TRAIN = [64, 32]
    cfg.INPUT.REA.ENABLED, cfg.INPUT.REA.PROB, cfg.INPUT.REA.MAX_AREA = True, 1.0, 0.4
    cfg.INPUT.REA.VALUE = [10.0, 20.0, 30.0]
    black = Image.new("RGB", (32, 64))
    t = build_transforms(cfg, is_train=True)
    for seed in range(10):
        torch.manual_seed(seed)
        out = t(black)
        erased = (out != 0).any(0)
        assert 0 < erased.float().mean() <= 0.4 + 1e-6
        assert out[:, erased].T.unique(dim=0).tolist() == [[10.0, 20.0, 30.0]]


def test_interpolation_and_authors_erasing_are_selectable():
    import random

    import torch
    import torchvision.transforms as T
    from PIL import Image

    from fastreid.config import get_cfg
    from fastreid.data.transforms import build_transforms
    from fastreid.data.transforms.transforms import UniformRatioErasing
    from fastreid.utils.errors import ConfigValueError

    cfg = get_cfg(plugins=True)
    img = Image.fromarray((torch.rand(40, 20, 3) * 255).byte().numpy())
    bicubic = build_transforms(cfg, is_train=False)(img)
    cfg.INPUT.INTERPOLATION = "bilinear"
    bilinear = build_transforms(cfg, is_train=False)(img)
    assert bicubic.shape == bilinear.shape and not torch.equal(bicubic, bilinear)
    cfg.INPUT.INTERPOLATION = "nearest-ish"
    with pytest.raises(ConfigValueError, match="INPUT.INTERPOLATION: 'nearest-ish'; expected one of bicubic, bilinear"):
        build_transforms(cfg, is_train=False)

    cfg = get_cfg(plugins=True)
    cfg.INPUT.REA.ENABLED = True
    assert isinstance(build_transforms(cfg).transforms[-1], T.RandomErasing)  # the default stays torchvision's
    cfg.INPUT.REA.RATIO_SAMPLING = "uniform"
    erase = build_transforms(cfg).transforms[-1]
    assert isinstance(erase, UniformRatioErasing) and erase.attempts == 100
    random.seed(0)
    erase = UniformRatioErasing(prob=1.0, max_area=0.4, value=(152.37, 143.823, 129.148))
    ratios = []
    for _ in range(400):
        out = erase(torch.zeros(3, 256, 128))
        mask = out[0] > 0
        rows, cols = mask.any(1).sum().item(), mask.any(0).sum().item()
        assert torch.all(out[:, mask] == torch.tensor([152.37, 143.823, 129.148]).view(3, 1))
        assert 0.02 * 256 * 128 * 0.8 <= rows * cols <= 0.4 * 256 * 128 * 1.1
        ratios.append(rows / cols)
    # uniform in [0.3, 3.33]: the mean ratio is near 1.82 (log-uniform sampling would give about 1.27)
    assert 1.55 < sum(ratios) / len(ratios) < 2.1
    cfg.INPUT.REA.RATIO_SAMPLING = "beta"
    with pytest.raises(ConfigValueError, match="RATIO_SAMPLING"):
        build_transforms(cfg)


def test_msinet_yamls_preprocess_as_the_authors():
    from pathlib import Path

    from fastreid.config import get_cfg

    repo = Path(__file__).resolve().parents[2]
    for yml in ("projects/MSINet/configs/Table2/market1501_scratch.yml", "projects/MSINet/configs/Search/msmt17.yml"):
        cfg = get_cfg(plugins=True)
        cfg.merge_from_file(str(repo / yml))
        assert cfg.INPUT.INTERPOLATION == "bilinear" and cfg.INPUT.REA.RATIO_SAMPLING == "uniform", yml
        assert cfg.INPUT.REA.ATTEMPTS == 100 and list(cfg.INPUT.REA.VALUE) == [152.370, 143.823, 129.148], yml
