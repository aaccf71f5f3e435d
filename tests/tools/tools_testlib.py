"""Helpers shared by the tool tests (a uniquely named module: ``conftest`` is ambiguous when the
whole suite runs, since every test folder has one). The tiny model files they run on are made by
``model_files`` (tests/testlib, shared with the engine tests)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools"
PKU = REPO / ".." / "shared" / "data" / "pku-reid-subset"


def load_tool(name: str):
    """Import ``tools/<name>.py`` as a module (tools are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"tools_{name}", TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def solid_image(path: Path, color, size_hw=(128, 48), seed: int = 0) -> Path:
    """An image of one colour with mild noise (distinct colours -> distinct features)."""
    rng = np.random.default_rng(seed)
    arr = np.clip(np.array(color, dtype=np.float32) + rng.normal(0, 8, (*size_hw, 3)), 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)
    return path


COLORS = {"001": (220, 40, 40), "002": (40, 200, 40), "003": (40, 40, 220), "004": (230, 220, 30)}
