"""MSINet (CVPR 2023): multi-scale interaction backbone, its search, and the Spatial Alignment Module."""

from . import config  # noqa: F401
from .config import add_msinet_config

__all__ = ["add_msinet_config"]
