"""Tiny model files for tests that run a trained model (the predictor, the tools): a YAML of a small CPU
model and a checkpoint written the way the trainer writes one. Shared by several test folders, so it
lives in ``tests/testlib`` (on pytest's ``pythonpath``, see pyproject.toml) under a unique name."""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import torch

__all__ = ["SIZE_HW", "write_config", "make_checkpoint", "tiny_model"]

# (height, width) of the test input; every tiny model below runs at this size.
SIZE_HW = (64, 32)


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


def tiny_model(folder: Path, backbone: str = "osnet") -> Tuple[Path, Path]:
    """``(config, checkpoint)`` of a tiny ``backbone`` + EmbeddingHead written into ``folder``."""
    config = write_config(folder, backbone)
    return config, make_checkpoint(config, folder)
