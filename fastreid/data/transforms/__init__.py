"""Image transforms built from ``INPUT.*``; tensors stay on the 0..255 scale."""

from .build import build_transforms
from .transforms import ToTensor255

__all__ = ["build_transforms", "ToTensor255"]
