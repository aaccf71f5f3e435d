"""Clustering-based unsupervised ReID (Cluster Contrast) for any backbone of the toolbox.

Importing the package registers ``ClusterNCELoss``; ``add_unsupreid_config`` adds the ``UNSUP`` keys and
``ClusterTrainer`` trains on pseudo-labels from clustering rounds. See ``projects/UnsupReID/README.md``.
"""

from . import loss  # noqa: F401  (registers ClusterNCELoss)
from .config import add_unsupreid_config, check_unsup_cfg
from .trainer import ClusterTrainer

__all__ = ["add_unsupreid_config", "check_unsup_cfg", "ClusterTrainer"]
