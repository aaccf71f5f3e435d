"""Transforms (shape, 0..255 range, erasing fill) and the architecture-search identity split."""

import numpy as np
import pytest
import torch
from PIL import Image

from fastreid.data import split_search_identities
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


def _items(num_ids=10, per_id=4):
    return [(f"{p}_{k}.jpg", f"ds_{p}", k % 2) for p in range(num_ids) for k in range(per_id)]


def test_search_split_60_80_overlap_halves_images():
    train, valid = split_search_identities(_items(), 0.6, 0.8)
    # train: identities 0..5 (6), valid: 2..9 (8); overlap 2..5 split 2 + 2 images
    assert len({p for _, p, _ in train}) == 6 and len({p for _, p, _ in valid}) == 8
    assert len(train) == 2 * 4 + 4 * 2 and len(valid) == 4 * 2 + 4 * 4
    train_paths, valid_paths = {x[0] for x in train}, {x[0] for x in valid}
    assert not (train_paths & valid_paths)
    assert {"2_0.jpg", "2_1.jpg"} <= train_paths and {"2_2.jpg", "2_3.jpg"} <= valid_paths
    assert sorted({p for _, p, _ in train}) == list(range(6)) and sorted({p for _, p, _ in valid}) == list(range(8))
    assert [x for x in valid if x[0] == "9_0.jpg"][0][1] == 7  # valid relabelled from 0 (id 2 -> 0)


def test_search_split_without_overlap():
    train, valid = split_search_identities(_items(), 0.5, 0.5)
    assert {x[0][0] for x in train} == set("01234") and {x[0][0] for x in valid} == set("56789")
    assert len(train) == len(valid) == 20


def test_search_split_100_100_gives_identical_sets():
    items = _items(5, 3)
    train, valid = split_search_identities(items, 1.0, 1.0)
    assert train == valid and len(train) == 15


def test_search_split_rejects_bad_ratio():
    with pytest.raises(ValueError, match="train_ratio 0"):
        split_search_identities(_items(), 0.0, 0.8)
