"""k-reciprocal re-ranking (Zhong et al., CVPR 2017) with sparse neighbour sets, on the CPU.

Variant used by fast-reid / SpCL: neighbour weights are a softmax of minus the metric distance over each
k-reciprocal expansion set; local query expansion averages the k2 nearest rows; the final distance is
``(1 - lambda) * jaccard + lambda * original``. Only kNN lists and the sparse encodings are kept in memory;
the (Q, G) result is produced chunk by chunk.

:func:`k_reciprocal_encoding` is the shared step: :class:`ReRanker` encodes query + gallery with it, and
the clustering of unsupervised training (:mod:`fastreid.evaluation.clustering`) encodes the training set
with it in Cluster Contrast's convention (``k1_includes_self=True``, squared Euclidean weights).
"""

from __future__ import annotations

import logging
from typing import Callable, NamedTuple, Optional, Tuple

import numpy as np

from fastreid.utils.errors import ConfigValueError

from .distance import DistanceBlocks

__all__ = ["ReRanker", "knn", "k_reciprocal_encoding", "Encoding", "EncodingColumns", "encoding_columns",
           "sum_of_minima"]

logger = logging.getLogger(__name__)

Progress = Optional[Callable[[str, int, int], None]]


class Encoding(NamedTuple):
    """Sparse k-reciprocal encodings, CSR rows (one per image): row i holds the images of i's expansion
    set (sorted column indices) and their weights; each row sums to 1."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray


class EncodingColumns(NamedTuple):
    """Column-wise (inverted) view of some rows of an :class:`Encoding`: for image k, the rows whose
    expansion holds k are ``rows[ptr[k]:ptr[k + 1]]`` with weights ``vals[...]`` (the Jaccard sums walk it)."""

    ptr: np.ndarray
    rows: np.ndarray
    vals: np.ndarray


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


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + l)`` for each (s, l): positions of CSR segments, without a loop."""
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(np.asarray(starts, dtype=np.int64) - offsets, lengths) + np.arange(lengths.sum())


def _report(progress: Progress, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def _expansion_sets(nn: np.ndarray, width: int, half_width: int, chunk_rows: int = 4096,
                    progress: Progress = None) -> Tuple[np.ndarray, np.ndarray]:
    """CSR (indptr, sorted indices) of every image's k-reciprocal expansion set.

    R(i) = the reciprocal entries of ``nn[i, :width]``; for each c in R(i), c's reciprocal list on
    ``half_width`` entries, R_half(c), is added when more than 2/3 of it lies in R(i). Vectorised over
    blocks of rows: the membership tests are binary searches in the sorted keys ``i * N + j`` of R.
    """
    n = len(nn)
    recip = _reciprocal(nn, width)
    recip_half = _reciprocal(nn, half_width)
    base_rows = np.nonzero(recip)[0]
    base_cols = nn[:, :width][recip]
    base_ptr = np.searchsorted(base_rows, np.arange(n + 1))
    half_len = recip_half.sum(axis=1)
    half_cols = nn[:, :half_width][recip_half]
    half_ptr = np.concatenate([[0], np.cumsum(half_len)])
    base_keys = base_rows * n + base_cols
    sorted_keys = np.sort(base_keys)
    keys = []
    for start in range(0, n, chunk_rows):
        lo, hi = base_ptr[start], base_ptr[min(start + chunk_rows, n)]
        rows, cands = base_rows[lo:hi], base_cols[lo:hi]
        lengths = half_len[cands]
        entry = np.repeat(np.arange(hi - lo), lengths)
        query = rows[entry] * n + half_cols[_ranges(half_ptr[cands], lengths)]
        found = np.minimum(np.searchsorted(sorted_keys, query), len(sorted_keys) - 1)
        inside = np.bincount(entry, weights=sorted_keys[found] == query, minlength=hi - lo)
        accepted = inside > 2.0 / 3.0 * lengths
        keys.append(np.unique(np.concatenate([base_keys[lo:hi], query[accepted[entry]]])))
        _report(progress, "expansion", min(start + chunk_rows, n), n)
    keys = np.concatenate(keys) if keys else np.empty(0, np.int64)
    indptr = np.searchsorted(keys // n if n else keys, np.arange(n + 1))
    return indptr.astype(np.int64), (keys % n if n else keys).astype(np.int64)


def _softmax_weights(blocks: DistanceBlocks, indptr: np.ndarray, indices: np.ndarray,
                     progress: Progress = None) -> np.ndarray:
    """Row by row, softmax of minus the metric distance from image i to each member of its set."""
    data = np.empty(len(indices), dtype=np.float64)
    n = len(indptr) - 1
    step = max(1, n // 10)
    for i in range(n):
        s, e = indptr[i], indptr[i + 1]
        if e > s:
            d = _pair_dist(blocks, i, indices[s:e])
            w = np.exp(-(d - d.min()))  # softmax of -d, shifted for stability
            data[s:e] = w / w.sum()
        if (i + 1) % step == 0 or i + 1 == n:
            _report(progress, "weights", i + 1, n)
    return data


def _pair_dist(blocks: DistanceBlocks, i: int, members: np.ndarray) -> np.ndarray:
    """Metric distances (float64) from row i of ``blocks`` to the rows ``members``."""
    prod = blocks.q[members] @ blocks.q[i]
    if blocks.metric == "cosine":
        return (1.0 - prod).astype(np.float64)
    return np.maximum(blocks.q_sq[members, 0] + blocks.q_sq[i, 0] - 2.0 * prod, 0.0).astype(np.float64)


def _local_expansion(nbr: np.ndarray, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> Encoding:
    """Row i becomes the mean of the rows of its k2 nearest neighbours (``nbr``, (N, k2), self included)."""
    n, k2 = nbr.shape
    src = nbr.ravel()
    counts = np.diff(indptr)[src]
    owner = np.repeat(np.repeat(np.arange(n), k2), counts)
    pos = _ranges(indptr[src], counts)
    keys = owner * n + indices[pos]
    uniq, inv = np.unique(keys, return_inverse=True)
    vals = np.bincount(inv, weights=data[pos]) / k2
    new_indptr = np.searchsorted(uniq // n, np.arange(n + 1))
    return Encoding(new_indptr.astype(np.int64), (uniq % n).astype(np.int64), vals)


def k_reciprocal_encoding(feats: np.ndarray, k1: int, k2: int, metric: str = "cosine", use_faiss: bool = True,
                          *, k1_includes_self: bool = False, progress: Progress = None) -> Encoding:
    """Sparse k-reciprocal encoding V of every row of ``feats`` (N, D) float32, one CSR row per image.

    Steps: exact kNN table; k-reciprocal sets R(i, k1) with the 2/3 expansion by R(c, round(k1 / 2));
    V[i, j] = softmax over the expansion set of minus the metric distance ("cosine": 1 - <f_i, f_j>,
    "euclidean": squared Euclidean distance, which equals 2 - 2<f_i, f_j> on unit vectors); then local query
    expansion: row i := mean of the rows of its k2 nearest images, itself included (skipped for k2 = 1).

    ``k1_includes_self`` picks how wide the k1 list is, the one place where the two published codes differ:
    False (Zhong et al., :class:`ReRanker`): k1 neighbours plus the image itself, k1 + 1 entries;
    True (Cluster Contrast's ``compute_jaccard_distance``): its kNN table has k1 columns, self included, so
    R(i, k1) is built on k1 entries and k2 is capped at k1. The half lists have round(k1 / 2) + 1 entries
    in both. ``feats`` must be L2-normalised for "cosine" (and for the Cluster Contrast equivalence).
    ``progress(stage, done, total)`` is called as the stages advance ("knn", "expansion", "weights").
    """
    feats = np.ascontiguousarray(feats, dtype=np.float32)
    width = k1 if k1_includes_self else k1 + 1
    _report(progress, "knn", 0, len(feats))
    nn = knn(feats, width, metric, use_faiss)
    _report(progress, "knn", len(feats), len(feats))
    width = nn.shape[1]  # capped at N
    half_width = min(int(np.around(k1 / 2.0)) + 1, width)
    indptr, indices = _expansion_sets(nn, width, half_width, progress=progress)
    blocks = DistanceBlocks(feats, feats, metric, normalized=True)
    data = _softmax_weights(blocks, indptr, indices, progress)
    if k2 > 1:
        return _local_expansion(nn[:, :k2], indptr, indices, data)
    return Encoding(indptr, indices, data)


def encoding_columns(encoding: Encoding, first_row: int = 0) -> EncodingColumns:
    """Inverted index of the rows ``first_row:`` of ``encoding`` (renumbered from 0), sorted by column."""
    indptr, indices, data = encoding
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    keep = rows >= first_row
    cols = indices[keep]
    order = np.argsort(cols, kind="stable")
    ptr = np.searchsorted(cols[order], np.arange(len(indptr)))
    return EncodingColumns(ptr, rows[keep][order] - first_row, data[keep][order])


def sum_of_minima(encoding: Encoding, columns: EncodingColumns, idx: np.ndarray, num_targets: int) -> np.ndarray:
    """(len(idx), num_targets) float64: sum over k of min(V[i, k], V[t, k]) for the rows ``idx`` of
    ``encoding`` and the target rows indexed by ``columns``; zero exactly where the supports are disjoint.

    Walks only the shared support: each entry (i, k) meets the rows of column k.
    """
    idx = np.asarray(idx)
    indptr, indices, data = encoding
    starts, lengths = indptr[idx], indptr[idx + 1] - indptr[idx]
    local = np.repeat(np.arange(len(idx)), lengths)
    pos = _ranges(starts, lengths)
    k, v = indices[pos], data[pos]
    cstart, clen = columns.ptr[k], columns.ptr[k + 1] - columns.ptr[k]
    owner = np.repeat(local, clen)
    cpos = _ranges(cstart, clen)
    shared = np.minimum(np.repeat(v, clen), columns.vals[cpos])
    common = np.bincount(owner * num_targets + columns.rows[cpos], weights=shared,
                         minlength=len(idx) * num_targets)
    return common.reshape(len(idx), num_targets)


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
        self.encoding = k_reciprocal_encoding(feats, k1, k2, metric, use_faiss)
        self.gallery_columns = encoding_columns(self.encoding, first_row=self.num_query)

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """(len(idx), G) re-ranked distances of the queries ``idx`` (sorted indices)."""
        common = sum_of_minima(self.encoding, self.gallery_columns, idx, self.num_gallery)
        jaccard = 1.0 - common / (2.0 - common)
        original = self.original.rows(np.asarray(idx)).astype(np.float64)
        return (jaccard * (1.0 - self.lambda_value) + original * self.lambda_value).astype(np.float32)
