"""Clustering-based unsupervised ReID (Cluster Contrast) and IDM's domain adaptation for any backbone of
the toolbox.

Importing the package registers ``ClusterNCELoss``; ``add_unsupreid_config`` adds the ``UNSUP`` keys;
``ClusterTrainer`` trains on pseudo-labels from clustering rounds, ``IDMTrainer`` (``UNSUP.IDM.ENABLED``)
trains a labelled source and the clustered target jointly through IDM's intermediate domain. See
``projects/UnsupReID/README.md``.
"""

from . import loss  # noqa: F401  (registers ClusterNCELoss)
from .config import add_unsupreid_config, check_unsup_cfg
from .idm import IDMBaseline, IntermediateDomainModule, deployable_state_dict
from .idm_trainer import IDMTrainer
from .trainer import ClusterTrainer

__all__ = ["add_unsupreid_config", "check_unsup_cfg", "ClusterTrainer", "IDMTrainer", "IDMBaseline",
           "IntermediateDomainModule", "deployable_state_dict", "trainer_class"]


def trainer_class(cfg) -> type:
    """The trainer ``cfg`` asks for: ``IDMTrainer`` with UNSUP.IDM.ENABLED, else ``ClusterTrainer``."""
    return IDMTrainer if cfg.UNSUP.IDM.ENABLED else ClusterTrainer
