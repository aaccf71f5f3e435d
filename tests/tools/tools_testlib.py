"""Helpers shared by the tool tests (a uniquely named module: ``conftest`` is ambiguous when the
whole suite runs, since every test folder has one)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools"
PKU = REPO / ".." / "shared" / "data" / "pku-reid-subset"

# (height, width) of the test input; every tiny model below runs at this size.
SIZE_HW = (64, 32)


def load_tool(name: str):
    """Import ``tools/<name>.py`` as a module (tools are scripts, not a package)."""
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

    cfg = get_cfg(plugins=True)
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


def solid_image(path: Path, color, size_hw=(128, 48), seed: int = 0) -> Path:
    """An image of one colour with mild noise (distinct colours -> distinct features)."""
    rng = np.random.default_rng(seed)
    arr = np.clip(np.array(color, dtype=np.float32) + rng.normal(0, 8, (*size_hw, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)
    return path


COLORS = {"001": (220, 40, 40), "002": (40, 200, 40), "003": (40, 40, 220), "004": (230, 220, 30)}
