"""Small building blocks shared by heads and backbones: pooling, classifiers, normalisation, light
convolutions and the channel gate."""

from .classifier import (
    CLASSIFIERS,
    ArcFaceClassifier,
    CircleClassifier,
    CosFaceClassifier,
    LinearClassifier,
    build_classifier,
)
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
    "bn_neck",
    "ChannelGate",
    "ConvBNReLU",
    "LightConv3x3",
    "Transition",
    "POOLING_LAYERS",
    "GeneralizedMeanPooling",
    "build_pooling",
]
