"""Retrieval: the nearest gallery images of each query, by cosine distance on unit-length features.

What ``tools/query.py`` searches with, over features from the predictor or a features file
(:mod:`fastreid.evaluation.feature_files`). Exact search: faiss's inner-product index when faiss is
importable (and asked for), numpy otherwise; both rank the same way.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

__all__ = ["Neighbours", "search_gallery"]

logger = logging.getLogger(__name__)


class Neighbours(NamedTuple):
    """The ``k`` nearest gallery rows of each query, nearest first."""

    indices: np.ndarray  # (Q, k) int64, rows of the gallery
    distances: np.ndarray  # (Q, k) float32, 1 - cosine


def search_gallery(query: np.ndarray, gallery: np.ndarray, k: int, use_faiss: bool = True) -> Neighbours:
    """Exact nearest neighbours by cosine distance.

    Args:
        query: ``(Q, D)`` L2-normalised features (any float dtype; searched in float32).
        gallery: ``(G, D)`` L2-normalised features, ``G >= 1``.
        k: neighbours per query, at least 1 (clipped to ``G``).
        use_faiss: use ``faiss.IndexFlatIP`` when importable.

    Returns:
        :class:`Neighbours`: ``indices`` ``(Q, k)`` int64 rows of ``gallery`` and ``distances``
        ``(Q, k)`` float32 (1 - cosine), nearest first.
    """
    if int(k) < 1 or gallery.shape[0] < 1:
        raise ValueError(f"search_gallery: k = {k} over a gallery of {gallery.shape[0]}; expected k >= 1 and a "
                         "gallery of at least one image")
    k = min(int(k), gallery.shape[0])
    query = np.ascontiguousarray(query, dtype=np.float32)
    gallery = np.ascontiguousarray(gallery, dtype=np.float32)
    if use_faiss:
        try:
            import faiss
        except ImportError:
            logger.info("faiss is not installed; searching with numpy")
        else:
            index = faiss.IndexFlatIP(gallery.shape[1])
            index.add(gallery)
            sims, idx = index.search(query, k)
            return Neighbours(idx.astype(np.int64), (1.0 - sims).astype(np.float32))
    sims = query @ gallery.T
    idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    part = np.take_along_axis(sims, idx, axis=1)
    order = np.argsort(-part, axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, axis=1)
    return Neighbours(idx.astype(np.int64), (1.0 - np.take_along_axis(sims, idx, axis=1)).astype(np.float32))
