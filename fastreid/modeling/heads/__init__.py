"""Heads: the HEADS registry and the registered EmbeddingHead."""

from . import embedding_head  # noqa: F401  (the import runs the registration)
from .build import HEADS_REGISTRY, build_heads
from .embedding_head import EmbeddingHead

__all__ = ["HEADS_REGISTRY", "build_heads", "EmbeddingHead"]
