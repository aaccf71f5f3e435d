"""Fixtures for the tool tests: tiny trained-format checkpoints and small image folders (synthetic, plus
a few real PKU-Reid images from ../shared when present). Helpers live in ``tools_testlib`` and
``model_files``."""

from __future__ import annotations

import pytest
import torch
from model_files import tiny_model
from tools_testlib import COLORS, PKU, solid_image


@pytest.fixture(autouse=True)
def _few_threads():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.fixture(scope="session")
def osnet_model(tmp_path_factory):
    """(config path, checkpoint path) of a tiny OSNet + EmbeddingHead."""
    return tiny_model(tmp_path_factory.mktemp("osnet"))


@pytest.fixture()
def colour_folder(tmp_path):
    """``<pid>/<cam>_<n>.png``: 4 identities x 3 images, each identity one colour."""
    root = tmp_path / "images"
    for k, (pid, color) in enumerate(COLORS.items()):
        for n in range(3):
            solid_image(root / pid / f"c{n % 2}_{n}.png", color, seed=10 * k + n)
    return root


@pytest.fixture(scope="session")
def pku_images():
    """A few real pedestrian images (3 identities x 4), or skip when ../shared is absent."""
    folder = PKU / "images"
    if not folder.is_dir():
        pytest.skip(f"real test images not found at {folder}")
    return [folder / pid / f"{cam}_{o}.png" for pid in ("001", "003", "004") for cam in ("01", "02")
            for o in (1, 5)]
