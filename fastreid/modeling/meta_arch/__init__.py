"""Meta-architectures: the META_ARCH registry and the registered Baseline."""

from . import baseline  # noqa: F401  (the import runs the registration)
from .baseline import Baseline
from .build import META_ARCH_REGISTRY, build_model

__all__ = ["META_ARCH_REGISTRY", "build_model", "Baseline"]
