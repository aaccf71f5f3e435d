"""Data: datasets in their published layouts, samplers, transforms and the loader builders.

Flow: ``datasets/`` parse files into ``(img_path, pid, camid)`` lists -> ``CommDataset`` reads and
transforms images -> ``samplers/`` choose indices (P x K identities, seeded, restartable) ->
``build_reid_train_loader`` / ``build_reid_test_loader`` batch them.
"""

from . import datasets, samplers, transforms  # noqa: F401
from .build import (
                    TrainLoader,
                    build_dataset,
                    build_reid_test_loader,
                    build_reid_train_loader,
                    dataset_root,
                    fast_batch_collator,
)
from .common import CommDataset
from .data_utils import CorruptImageError, read_image
from .datasets import DATASET_REGISTRY, DatasetLayoutError, EmptyTestSetError, ImageDataset
from .synthetic import SyntheticSpec, generate_synthetic_reid
from .transforms import build_transforms

__all__ = [
    "build_reid_train_loader", "build_reid_test_loader", "build_dataset", "dataset_root", "fast_batch_collator",
    "TrainLoader", "CommDataset", "read_image", "CorruptImageError", "DATASET_REGISTRY", "DatasetLayoutError",
    "EmptyTestSetError", "ImageDataset", "SyntheticSpec", "generate_synthetic_reid",
    "build_transforms",
]
