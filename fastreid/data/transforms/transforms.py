"""Transforms that keep pixels on the 0..255 scale (the model normalises)."""

from __future__ import annotations

import math
import random
from typing import Sequence

import numpy as np
import torch
from PIL import Image

__all__ = ["ToTensor255", "UniformRatioErasing"]


class ToTensor255:
    """PIL RGB image (H x W x 3, uint8) -> float32 tensor (3, H, W) with values 0..255 (no division)."""

    def __call__(self, img: Image.Image) -> torch.Tensor:
        arr = np.asarray(img.convert("RGB"), dtype=np.float32)
        return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class UniformRatioErasing:
    """Random erasing as the MSINet authors' code does it (Zhong et al.'s original): with probability
    ``prob``, up to ``attempts`` times draw an area fraction uniformly in [min_area, max_area] and an
    aspect ratio uniformly in [ratio, 1 / ratio] (torchvision draws the ratio log-uniformly and tries 10
    times), and fill the first rectangle that fits with ``value`` (per channel, the tensor's scale).
    Uses python's ``random``, which the loaders seed per sample."""

    def __init__(self, prob: float = 0.5, min_area: float = 0.02, max_area: float = 0.4, ratio: float = 0.3,
                 value: Sequence[float] = (0.0, 0.0, 0.0), attempts: int = 100) -> None:
        self.prob, self.min_area, self.max_area, self.ratio = prob, min_area, max_area, ratio
        self.value = [float(v) for v in value]
        self.attempts = int(attempts)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if random.uniform(0, 1) >= self.prob:
            return img
        _, h, w = img.shape
        for _ in range(self.attempts):
            area = random.uniform(self.min_area, self.max_area) * h * w
            aspect = random.uniform(self.ratio, 1.0 / self.ratio)
            eh, ew = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if ew < w and eh < h:
                top, left = random.randint(0, h - eh), random.randint(0, w - ew)
                img = img.clone()
                img[:, top:top + eh, left:left + ew] = torch.tensor(self.value, dtype=img.dtype).view(-1, 1, 1)
                return img
        return img

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(prob={self.prob}, area=[{self.min_area}, {self.max_area}], "
                f"ratio=[{self.ratio}, {1 / self.ratio:.3f}] uniform, attempts={self.attempts})")
