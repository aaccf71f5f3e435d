"""Fixtures for the data tests: tiny image trees in the published layouts, written into tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pytest
import torch
from PIL import Image

from fastreid.config import get_cfg

torch.set_num_threads(1)

PKU_ROOT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def write_image(path: Path, seed: int = 0, size=(32, 16)) -> Path:
    """A small random RGB image (H x W = size) saved at ``path`` (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


def write_images(folder: Path, names: Iterable[str]) -> None:
    for i, n in enumerate(names):
        write_image(folder / n, seed=i)


@pytest.fixture
def cfg(tmp_path):
    c = get_cfg(plugins=True)
    c.DATASETS.ROOT = str(tmp_path)
    c.DATALOADER.NUM_WORKERS = 0
    c.SEED = 0
    c.INPUT.SIZE_TRAIN = [32, 16]
    c.INPUT.SIZE_TEST = [32, 16]
    c.SOLVER.IMS_PER_BATCH = 8
    c.TEST.IMS_PER_BATCH = 4
    return c


def make_market(root: Path, folder: str = "Market-1501-v15.09.15") -> Path:
    """Market-1501 layout: train ids 2, 7; test ids 10, 11; one distractor (0) and one junk (-1)."""
    d = root / folder
    write_images(d / "bounding_box_train", [
        "0002_c1s1_000451_03.jpg", "0002_c2s1_000551_01.jpg", "0002_c3s1_000651_02.jpg",
        "0007_c1s1_000100_01.jpg", "0007_c6s2_000200_01.jpg"])
    write_images(d / "query", ["0010_c1s1_001000_00.jpg", "0011_c2s1_001100_00.jpg"])
    write_images(d / "bounding_box_test", [
        "0010_c2s1_001010_01.jpg", "0010_c1s1_001020_01.jpg", "0011_c3s1_001110_01.jpg",
        "0000_c4s1_000000_01.jpg", "-1_c5s1_000000_02.jpg"])
    return d


class _Helpers:
    """Helper functions handed to tests through the ``fx`` fixture (tests/ is not a package)."""

    write_image = staticmethod(write_image)
    write_images = staticmethod(write_images)
    make_market = staticmethod(make_market)
    pku_root = PKU_ROOT


@pytest.fixture
def fx():
    return _Helpers
