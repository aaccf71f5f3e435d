"""Query-gallery distances, whole or chunk by chunk (float32, BLAS matmul)."""

from __future__ import annotations

from typing import Union

import numpy as np
import torch

__all__ = ["compute_distance", "DistanceBlocks", "l2_normalize", "METRICS"]

METRICS = ("cosine", "euclidean")


def _as_numpy(x: Union[np.ndarray, torch.Tensor]) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=np.float32)


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` (N, D) scaled to unit L2 norm (a zero row stays zero)."""
    norm = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    return (x / np.maximum(norm, eps)[:, None]).astype(np.float32)


class DistanceBlocks:
    """Rows of the (Q, G) distance matrix computed on demand.

    Args:
        q_feat: (Q, D), g_feat: (G, D) features (numpy or torch; converted to float32).
        metric: "cosine" -> 1 - cosine similarity (features L2-normalised here unless ``normalized``);
            "euclidean" -> squared euclidean distance, clamped at 0.
    """

    def __init__(self, q_feat, g_feat, metric: str = "cosine", normalized: bool = False):
        if metric not in METRICS:
            raise ValueError(f"metric: {metric!r} is not supported; expected one of {', '.join(METRICS)}")
        q, g = _as_numpy(q_feat), _as_numpy(g_feat)
        if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
            raise ValueError(f"features: query {q.shape} and gallery {g.shape}; expected (Q, D) and (G, D)")
        if metric == "cosine" and not normalized:
            q, g = l2_normalize(q), l2_normalize(g)
        self.metric = metric
        self.q, self.g = q, g
        self.num_query, self.num_gallery = q.shape[0], g.shape[0]
        if metric == "euclidean":
            self.q_sq = np.einsum("ij,ij->i", q, q)[:, None]
            self.g_sq = np.einsum("ij,ij->i", g, g)[None, :]

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """(len(idx), G) float32 distances of the queries ``idx`` (an index array or a slice)."""
        q = self.q[idx]
        block = q @ self.g.T
        if self.metric == "cosine":
            np.subtract(np.float32(1.0), block, out=block)
        else:
            block *= np.float32(-2.0)
            block += self.q_sq[idx]
            block += self.g_sq
            np.maximum(block, np.float32(0.0), out=block)
        return block


def compute_distance(q_feat, g_feat, metric: str = "cosine", normalized: bool = False,
                     chunk_rows: int = 1024) -> np.ndarray:
    """The whole (Q, G) float32 distance matrix (cosine: 1 - cos; euclidean: squared), chunk by chunk.

    Produces exactly the numbers :func:`fastreid.evaluation.evaluate_features` uses internally.
    """
    blocks = DistanceBlocks(q_feat, g_feat, metric, normalized=normalized)
    out = np.empty((blocks.num_query, blocks.num_gallery), dtype=np.float32)
    for s in range(0, blocks.num_query, chunk_rows):
        idx = np.arange(s, min(s + chunk_rows, blocks.num_query))
        out[idx[0]:idx[-1] + 1] = blocks.rows(idx)
    return out
