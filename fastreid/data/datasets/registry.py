"""The DATASET registry.

A registered entry is a class (an ``ImageDataset`` subclass) constructed as ``cls(root=..., **kwargs)``
that parses one dataset in its published on-disk layout and exposes ``train``, ``query`` and
``gallery`` lists of ``(img_path, pid, camid)``.
"""

from fastreid.utils.registry import Registry

__all__ = ["DATASET_REGISTRY"]

DATASET_REGISTRY = Registry("DATASET")
DATASET_REGISTRY.__doc__ = __doc__
