"""Fixtures for the tool tests: tools imported from ``tools/`` by path, tiny trained-format checkpoints,
and small image folders (synthetic, plus a few real PKU-Reid images from ../shared when present)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools"
PKU = REPO / ".." / "shared" / "data" / "pku-reid-subset"

# (height, width) of the test input; every tiny model below runs at this size.
SIZE_HW = (64, 32)


@pytest.fixture(autouse=True)
def _few_threads():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


def load_tool(name: str):
    """Import ``tools/<name>.py`` as a module (tools are scripts, not a package)."""
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))
    spec = importlib.util.spec_from_file_location(f"tools_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_config(folder: Path, backbone: str = "osnet", head: str = "EmbeddingHead", num_classes: int = 4) -> Path:
    """A YAML for a tiny CPU model at SIZE_HW."""
    path = folder / f"{backbone}.yml"
    path.write_text(
        "MODEL:\n"
        "  DEVICE: cpu\n"
        f"  BACKBONE:\n    NAME: {backbone}\n"
        f"  HEADS:\n    NAME: {head}\n    NUM_CLASSES: {num_classes}\n"
        f"INPUT:\n  SIZE_TEST: [{SIZE_HW[0]}, {SIZE_HW[1]}]\n  SIZE_TRAIN: [{SIZE_HW[0]}, {SIZE_HW[1]}]\n"
    )
    return path


def make_checkpoint(config: Path, out: Path, seed: int = 0) -> Path:
    """Build the config's model with a fixed seed, give its BN layers non-trivial running statistics
    (so eval differs from train), and save it the way the trainer does."""
    from fastreid.config import get_cfg
    from fastreid.modeling.meta_arch.build import build_model
    from fastreid.utils.checkpoint import Checkpointer

    cfg = get_cfg()
    cfg.merge_from_file(str(config))
    torch.manual_seed(seed)
    model = build_model(cfg)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    # the trainer records the class count beside the weights
    path = Checkpointer(model, str(out)).save("model_final", num_classes=cfg.MODEL.HEADS.NUM_CLASSES)
    return Path(path)


@pytest.fixture(scope="session")
def osnet_model(tmp_path_factory):
    """(config path, checkpoint path) of a tiny OSNet + EmbeddingHead."""
    folder = tmp_path_factory.mktemp("osnet")
    config = write_config(folder, "osnet")
    return config, make_checkpoint(config, folder)


def solid_image(path: Path, color, size_hw=(128, 48), seed: int = 0) -> Path:
    """An image of one colour with mild noise (distinct colours -> distinct features)."""
    rng = np.random.default_rng(seed)
    arr = np.clip(np.array(color, dtype=np.float32) + rng.normal(0, 8, (*size_hw, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)
    return path


COLORS = {"001": (220, 40, 40), "002": (40, 200, 40), "003": (40, 40, 220), "004": (230, 220, 30)}


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
