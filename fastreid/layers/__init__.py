"""Small building blocks shared by heads and backbones: pooling, classifiers, normalisation."""

from .classifier import (
    CLASSIFIERS,
    ArcFaceClassifier,
    CircleClassifier,
    CosFaceClassifier,
    LinearClassifier,
    build_classifier,
)
from .norm import bn_neck
from .pooling import POOLING_LAYERS, GeneralizedMeanPooling, build_pooling

__all__ = [
    "CLASSIFIERS",
    "ArcFaceClassifier",
    "CircleClassifier",
    "CosFaceClassifier",
    "LinearClassifier",
    "build_classifier",
    "bn_neck",
    "POOLING_LAYERS",
    "GeneralizedMeanPooling",
    "build_pooling",
]
