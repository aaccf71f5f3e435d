"""Small building blocks shared by heads and backbones: pooling, classifiers, normalisation, light
convolutions, the channel gate and the cluster memory."""

from .classifier import (
    CLASSIFIERS,
    ArcFaceClassifier,
    CircleClassifier,
    CosFaceClassifier,
    LinearClassifier,
    build_classifier,
)
from .cluster_memory import ClusterMemory, class_centroids
from .conv import ChannelGate, ConvBNReLU, LightConv3x3, Transition
from .norm import bn_neck
from .pooling import POOLING_LAYERS, GeneralizedMeanPooling, build_pooling

__all__ = [
    "CLASSIFIERS",
    "ArcFaceClassifier",
    "CircleClassifier",
    "CosFaceClassifier",
    "LinearClassifier",
    "build_classifier",
    "ClusterMemory",
    "class_centroids",
    "bn_neck",
    "ChannelGate",
    "ConvBNReLU",
    "LightConv3x3",
    "Transition",
    "POOLING_LAYERS",
    "GeneralizedMeanPooling",
    "build_pooling",
]
