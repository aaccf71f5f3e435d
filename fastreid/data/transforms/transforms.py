"""Transforms that keep pixels on the 0..255 scale (the model normalises)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

__all__ = ["ToTensor255"]


class ToTensor255:
    """PIL RGB image (H x W x 3, uint8) -> float32 tensor (3, H, W) with values 0..255 (no division)."""

    def __call__(self, img: Image.Image) -> torch.Tensor:
        arr = np.asarray(img.convert("RGB"), dtype=np.float32)
        return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
