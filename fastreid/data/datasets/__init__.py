"""Dataset parsers, each registered in ``DATASET_REGISTRY`` (imported explicitly so registration runs)."""

from . import custom, dukemtmc, market1501, msmt17, pku, synthetic_reid, vehicleid, veri  # noqa: F401
from .bases import DatasetLayoutError, EmptyTestSetError, ImageDataset, check_query_gallery
from .custom import CustomReID
from .dukemtmc import DukeMTMC
from .market1501 import Market1501
from .msmt17 import MSMT17
from .pku import PKUReIDSubset
from .registry import DATASET_REGISTRY
from .synthetic_reid import SyntheticDusk, SyntheticReID
from .vehicleid import LargeVehicleID, MediumVehicleID, SmallVehicleID, VehicleID
from .veri import VeRi

__all__ = [
    "DATASET_REGISTRY", "ImageDataset", "DatasetLayoutError", "EmptyTestSetError", "check_query_gallery",
    "Market1501", "DukeMTMC", "MSMT17", "VeRi", "VehicleID", "SmallVehicleID", "MediumVehicleID",
    "LargeVehicleID", "PKUReIDSubset", "CustomReID", "SyntheticReID", "SyntheticDusk",
]
