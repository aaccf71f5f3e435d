"""k-reciprocal re-ranking (Zhong et al., CVPR 2017) with sparse neighbour sets, on the CPU.

Variant used by fast-reid / SpCL: neighbour weights are a softmax of minus the metric distance over each
k-reciprocal expansion set; local query expansion averages the k2 nearest rows; the final distance is
``(1 - lambda) * jaccard + lambda * original``. Only kNN lists and the sparse encodings are kept in memory;
the (Q, G) result is produced chunk by chunk.
"""

from __future__ import annotations

import logging
from typing import Tuple

import numpy as np

from fastreid.utils.errors import ConfigValueError

from .distance import DistanceBlocks

__all__ = ["ReRanker", "knn"]

logger = logging.getLogger(__name__)


def knn(feats: np.ndarray, k: int, metric: str, use_faiss: bool = True, chunk_rows: int = 1024) -> np.ndarray:
    """Indices (N, k) of each row's k nearest rows of ``feats`` (itself included), nearest first.

    Uses faiss-cpu exact search when importable and ``use_faiss``; numpy chunks otherwise. ``feats`` must be
    L2-normalised for "cosine".
    """
    k = min(k, len(feats))
    if use_faiss:
        try:
            import faiss
        except ImportError:
            faiss = None
        if faiss is not None:
            index = faiss.IndexFlatIP(feats.shape[1]) if metric == "cosine" else faiss.IndexFlatL2(feats.shape[1])
            index.add(feats)
            return index.search(feats, k)[1].astype(np.int64)
    blocks = DistanceBlocks(feats, feats, metric, normalized=True)
    out = np.empty((len(feats), k), dtype=np.int64)
    for s in range(0, len(feats), chunk_rows):
        idx = np.arange(s, min(s + chunk_rows, len(feats)))
        d = blocks.rows(idx)
        part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.tile(np.arange(k), (len(idx), 1))
        order = np.lexsort((part, np.take_along_axis(d, part, axis=1)))
        out[idx[0]:idx[-1] + 1] = np.take_along_axis(part, order, axis=1)
    return out


def _reciprocal(nn: np.ndarray, k: int) -> np.ndarray:
    """(N, k) mask: nn[i, t] is among the k nearest of i AND i is among the k nearest of nn[i, t]."""
    head = nn[:, :k]
    rows = np.arange(len(nn))[:, None, None]
    return (head[head] == rows).any(axis=2)


class ReRanker:
    """Sparse k-reciprocal encodings of Q + G features; call :meth:`rows` for re-ranked distance rows.

    Args:
        q_feat: (Q, D), g_feat: (G, D) float32 (L2-normalised for "cosine").
        k1, k2, lambda_value: the paper's parameters (TEST.RERANK.K1/K2/LAMBDA).
    """

    def __init__(self, q_feat: np.ndarray, g_feat: np.ndarray, metric: str = "cosine", k1: int = 20, k2: int = 6,
                 lambda_value: float = 0.3, use_faiss: bool = True):
        if k1 < 1 or k2 < 1 or not 0.0 <= lambda_value <= 1.0:
            raise ConfigValueError(f"TEST.RERANK: K1={k1}, K2={k2}, LAMBDA={lambda_value}; expected K1, K2 >= 1 and "
                             "0 <= LAMBDA <= 1")
        self.num_query, self.num_gallery = len(q_feat), len(g_feat)
        self.lambda_value = lambda_value
        feats = np.ascontiguousarray(np.concatenate([q_feat, g_feat]), dtype=np.float32)
        self.original = DistanceBlocks(q_feat, g_feat, metric, normalized=True)
        self._all = DistanceBlocks(feats, feats, metric, normalized=True)
        nn = knn(feats, k1 + 1, metric, use_faiss)
        indptr, indices, data = self._encode(nn, k1)
        if k2 > 1:
            indptr, indices, data = self._local_expansion(nn[:, :k2], indptr, indices, data)
        self.indptr, self.indices, self.data = indptr, indices, data
        self._build_gallery_columns()

    def _encode(self, nn: np.ndarray, k1: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        half = int(np.around(k1 / 2.0))
        recip = _reciprocal(nn, k1 + 1)
        recip_half = _reciprocal(nn, half + 1)
        cols, vals, indptr = [], [], [0]
        for i in range(len(nn)):
            base = nn[i, :k1 + 1][recip[i]]
            expansion = [base]
            for j in base:
                cand = nn[j, :half + 1][recip_half[j]]
                if np.isin(cand, base).sum() > 2.0 / 3.0 * len(cand):
                    expansion.append(cand)
            members = np.unique(np.concatenate(expansion))
            d = self._pair_dist(i, members)
            w = np.exp(-(d - d.min()))  # softmax of -d, shifted for stability
            cols.append(members)
            vals.append(w / w.sum())
            indptr.append(indptr[-1] + len(members))
        return np.asarray(indptr, np.int64), np.concatenate(cols), np.concatenate(vals)

    def _pair_dist(self, i: int, members: np.ndarray) -> np.ndarray:
        a = self._all
        prod = a.q[members] @ a.q[i]
        if a.metric == "cosine":
            return (1.0 - prod).astype(np.float64)
        return np.maximum(a.q_sq[members, 0] + a.q_sq[i, 0] - 2.0 * prod, 0.0).astype(np.float64)

    @staticmethod
    def _local_expansion(nbr: np.ndarray, indptr, indices, data):
        """Row i becomes the mean of the rows of its k2 nearest neighbours."""
        n, k2 = nbr.shape
        lengths = np.diff(indptr)
        src = nbr.ravel()
        counts = lengths[src]
        owner = np.repeat(np.repeat(np.arange(n), k2), counts)
        first = np.cumsum(counts) - counts
        pos = np.repeat(indptr[src], counts) + np.arange(counts.sum()) - np.repeat(first, counts)
        keys = owner * n + indices[pos]
        uniq, inv = np.unique(keys, return_inverse=True)
        vals = np.bincount(inv, weights=data[pos]) / k2
        new_rows = uniq // n
        new_indptr = np.searchsorted(new_rows, np.arange(n + 1))
        return new_indptr.astype(np.int64), (uniq % n).astype(np.int64), vals

    def _build_gallery_columns(self):
        """Column-wise view of the gallery rows of the encoding (for the Jaccard sums)."""
        q, n = self.num_query, self.num_query + self.num_gallery
        rows = np.repeat(np.arange(n), np.diff(self.indptr))
        keep = rows >= q
        cols = self.indices[keep]
        order = np.argsort(cols, kind="stable")
        self.col_rows = rows[keep][order] - q
        self.col_vals = self.data[keep][order]
        self.col_ptr = np.searchsorted(cols[order], np.arange(n + 1))

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """(len(idx), G) re-ranked distances of the queries ``idx`` (sorted indices)."""
        idx = np.asarray(idx)
        g = self.num_gallery
        starts, ends = self.indptr[idx], self.indptr[idx + 1]
        lengths = ends - starts
        local = np.repeat(np.arange(len(idx)), lengths)
        pos = np.repeat(starts, lengths) + np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        k, v = self.indices[pos], self.data[pos]
        cstart, clen = self.col_ptr[k], self.col_ptr[k + 1] - self.col_ptr[k]
        owner = np.repeat(local, clen)
        cpos = np.repeat(cstart, clen) + np.arange(clen.sum()) - np.repeat(np.cumsum(clen) - clen, clen)
        shared = np.minimum(np.repeat(v, clen), self.col_vals[cpos])
        common = np.bincount(owner * g + self.col_rows[cpos], weights=shared, minlength=len(idx) * g)
        common = common.reshape(len(idx), g)
        jaccard = 1.0 - common / (2.0 - common)
        original = self.original.rows(idx).astype(np.float64)
        return (jaccard * (1.0 - self.lambda_value) + original * self.lambda_value).astype(np.float32)
