"""Alpha query expansion (alpha-QE, Radenovic et al. 2018) over the union of query and gallery features."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from fastreid.utils.errors import ConfigValueError

from .distance import l2_normalize

__all__ = ["aqe"]


def aqe(q_feat: np.ndarray, g_feat: np.ndarray, qe_times: int = 1, qe_k: int = 5, alpha: float = 3.0,
        chunk_rows: int = 1024) -> Tuple[np.ndarray, np.ndarray]:
    """Replace every feature by the similarity-weighted mean of its ``qe_k`` nearest neighbours.

    Features are L2-normalised; each of the Q + G features (itself included among its neighbours) becomes
    ``normalize(sum_j max(cos_ij, 0) ** alpha * f_j)`` over its ``qe_k`` most cosine-similar features;
    repeated ``qe_times`` times. Works chunk by chunk (memory O(chunk_rows * (Q + G))).

    Args:
        q_feat: (Q, D), g_feat: (G, D) float features.
    Returns:
        Expanded, L2-normalised (Q, D) and (G, D) float32 features.
    """
    if qe_k < 1 or qe_times < 0:
        raise ConfigValueError(f"TEST.AQE: QE_K={qe_k}, QE_TIME={qe_times}; expected QE_K >= 1 and QE_TIME >= 0")
    num_query = len(q_feat)
    feats = l2_normalize(np.concatenate([np.asarray(q_feat, np.float32), np.asarray(g_feat, np.float32)]))
    k = min(qe_k, len(feats))
    for _ in range(qe_times):
        out = np.empty_like(feats)
        for s in range(0, len(feats), chunk_rows):
            sims = feats[s:s + chunk_rows] @ feats.T
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            weights = np.maximum(np.take_along_axis(sims, top, axis=1), 0.0) ** alpha
            out[s:s + chunk_rows] = np.einsum("rk,rkd->rd", weights, feats[top])
        feats = l2_normalize(out)
    return feats[:num_query], feats[num_query:]
