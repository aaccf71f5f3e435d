"""``build_transforms(cfg, is_train)``: the augmentation pipeline from ``INPUT.*`` keys.

Train order: AutoAugment (``AUTOAUG``, with probability PROB) -> resize to ``SIZE_TRAIN``
(``INTERPOLATION``: bicubic, or bilinear as the MSINet authors) -> pad + random crop back to
``SIZE_TRAIN`` (``PADDING``) -> horizontal flip (``FLIP``) -> colour jitter (``CJ``, with probability
PROB) -> tensor 0..255 -> random erasing (``REA``: area 2 %..MAX_AREA of the image, aspect ratio drawn
log-uniformly as torchvision does or uniformly as the authors do (``REA.RATIO_SAMPLING``), filled with
VALUE on the 0..255 scale). Test: resize to ``SIZE_TEST`` (same interpolation) -> tensor.
Output: float32 (3, H, W), values 0..255.
"""

from __future__ import annotations

import torchvision.transforms as T
from torchvision.transforms import InterpolationMode

from fastreid.utils.errors import ConfigValueError

from .transforms import ToTensor255, UniformRatioErasing

__all__ = ["build_transforms"]


def _size(key: str, value) -> tuple:
    size = tuple(int(v) for v in value)
    if len(size) != 2 or min(size) <= 0:
        raise ConfigValueError(f"{key}: {list(value)} is not an image size; expected [height, width] > 0")
    return size


_INTERPOLATIONS = {"bicubic": InterpolationMode.BICUBIC, "bilinear": InterpolationMode.BILINEAR}
_RATIO_SAMPLING = ("log", "uniform")


def _interpolation(inp) -> InterpolationMode:
    if inp.INTERPOLATION not in _INTERPOLATIONS:
        raise ConfigValueError(f"INPUT.INTERPOLATION: {inp.INTERPOLATION!r}; expected one of {', '.join(_INTERPOLATIONS)}",
                               key="INPUT.INTERPOLATION", value=inp.INTERPOLATION, expected=", ".join(_INTERPOLATIONS))
    return _INTERPOLATIONS[inp.INTERPOLATION]


def _erasing(rea):
    if not 0.02 < rea.MAX_AREA <= 1.0:
        raise ConfigValueError(f"INPUT.REA.MAX_AREA: {rea.MAX_AREA} out of range; expected a fraction in (0.02, 1]")
    value = [float(v) for v in rea.VALUE]
    if rea.RATIO_SAMPLING == "log":
        return T.RandomErasing(p=rea.PROB, scale=(0.02, rea.MAX_AREA), ratio=(0.3, 3.3), value=value)
    if rea.RATIO_SAMPLING == "uniform":
        return UniformRatioErasing(rea.PROB, 0.02, rea.MAX_AREA, 0.3, value, rea.ATTEMPTS)
    raise ConfigValueError(f"INPUT.REA.RATIO_SAMPLING: {rea.RATIO_SAMPLING!r}; expected one of {', '.join(_RATIO_SAMPLING)}",
                           key="INPUT.REA.RATIO_SAMPLING", value=rea.RATIO_SAMPLING, expected=", ".join(_RATIO_SAMPLING))


def build_transforms(cfg, is_train: bool = True) -> T.Compose:
    """Build the train or test transform (PIL RGB image -> float tensor (3, H, W) on 0..255)."""
    inp = cfg.INPUT
    interpolation = _interpolation(inp)
    if not is_train:
        size = _size("INPUT.SIZE_TEST", inp.SIZE_TEST)
        return T.Compose([T.Resize(size, interpolation=interpolation), ToTensor255()])
    size = _size("INPUT.SIZE_TRAIN", inp.SIZE_TRAIN)
    ops = []
    if inp.AUTOAUG.ENABLED:
        ops.append(T.RandomApply([T.AutoAugment(T.AutoAugmentPolicy.IMAGENET)], p=inp.AUTOAUG.PROB))
    ops.append(T.Resize(size, interpolation=interpolation))
    if inp.PADDING.ENABLED:
        ops += [T.Pad(inp.PADDING.SIZE, padding_mode=inp.PADDING.MODE), T.RandomCrop(size)]
    if inp.FLIP.ENABLED:
        ops.append(T.RandomHorizontalFlip(p=inp.FLIP.PROB))
    if inp.CJ.ENABLED:
        cj = T.ColorJitter(inp.CJ.BRIGHTNESS, inp.CJ.CONTRAST, inp.CJ.SATURATION, inp.CJ.HUE)
        ops.append(T.RandomApply([cj], p=inp.CJ.PROB))
    ops.append(ToTensor255())
    if inp.REA.ENABLED:
        ops.append(_erasing(inp.REA))
    return T.Compose(ops)
