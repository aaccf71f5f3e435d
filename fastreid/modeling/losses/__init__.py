"""Losses: the LOSS registry, plain functional forms, and the registered core losses."""

from . import cross_entropy, functional, triplet  # noqa: F401  (imports run the registrations)
from .build import LOSS_REGISTRY, build_losses
from .cross_entropy import CrossEntropyLoss
from .functional import cosine_dist, cross_entropy_loss, euclidean_dist, pairwise_distance, triplet_loss
from .triplet import TripletLoss

__all__ = [
    "LOSS_REGISTRY",
    "build_losses",
    "CrossEntropyLoss",
    "TripletLoss",
    "cosine_dist",
    "cross_entropy_loss",
    "euclidean_dist",
    "pairwise_distance",
    "triplet_loss",
]
