"""Backbones: the BACKBONE registry and the registered ResNet-50 and OSNet."""

from . import osnet, resnet  # noqa: F401  (imports run the registrations)
from .build import BACKBONE_REGISTRY, build_backbone
from .osnet import OSNet
from .pretrain import load_pretrained_weights
from .resnet import ResNet50

__all__ = ["BACKBONE_REGISTRY", "build_backbone", "OSNet", "ResNet50", "load_pretrained_weights"]
