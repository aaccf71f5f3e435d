"""Verification-style ROC summary of query-gallery pairs: TPR at fixed FPR, exact and memory-bounded."""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Optional, Sequence

import numpy as np

from .rank import GalleryIndex

__all__ = ["evaluate_roc", "roc_from_blocks", "DEFAULT_FPRS"]

DEFAULT_FPRS = (1e-4, 1e-3, 1e-2)


def roc_from_blocks(block_fn: Callable[[np.ndarray], np.ndarray], num_query: int, q_pids, q_camids,
                    gindex: GalleryIndex, num_gallery: int, fprs: Sequence[float] = DEFAULT_FPRS,
                    chunk_rows: Optional[int] = None) -> "OrderedDict[float, float]":
    """TPR at each FPR over kept pairs, a pair being accepted as "same identity" when distance < t.

    Kept pairs: every query-gallery pair except same identity + same camera and junk identities. Positive =
    same identity. For each ``fpr`` the threshold t is the largest one accepting at most ``fpr`` of the
    negatives (t = the (k+1)-th smallest negative distance, k = floor(fpr * negatives)); TPR = fraction of
    positives with distance < t (1.0 when every negative may be accepted). Only the k smallest negative
    distances seen so far are kept.

    Returns:
        OrderedDict fpr -> tpr (0..1).
    """
    q_pids = np.asarray(q_pids).astype(np.int64, copy=False).ravel()
    q_camids = np.asarray(q_camids).astype(np.int64, copy=False).ravel()
    rows, cols, positive = gindex.matches(q_pids, q_camids)
    queries = np.arange(num_query)
    if gindex.junk_pid is not None:
        queries = queries[q_pids != gindex.junk_pid]
    num_pairs = queries.size * (num_gallery - gindex.junk_cols.size)
    num_pos = int(positive.sum())
    num_neg = num_pairs - rows.size
    if num_pos == 0 or num_neg <= 0:
        raise ValueError(f"ROC: {num_pos} positive and {num_neg} negative pairs; expected at least one of each")
    ks = [int(np.floor(f * num_neg)) for f in fprs]
    keep = min(max(ks) + 1, num_neg)
    if chunk_rows is None:
        chunk_rows = max(8, (1 << 22) // max(num_gallery, 1))
    row_ptr = np.searchsorted(rows, np.arange(num_query + 1))
    smallest = np.empty(0, dtype=np.float64)
    threshold = np.inf
    pos_dist = []
    for s in range(0, queries.size, chunk_rows):
        idx = queries[s:s + chunk_rows]
        block = block_fn(idx)
        sel = np.concatenate([np.arange(row_ptr[i], row_ptr[i + 1]) for i in idx]) if rows.size else np.empty(0, int)
        local = np.searchsorted(idx, rows[sel])
        pos_dist.append(block[local[positive[sel]], cols[sel][positive[sel]]])
        cand = block < threshold
        cand[local, cols[sel]] = False
        if gindex.junk_cols.size:
            cand[:, gindex.junk_cols] = False
        smallest = np.concatenate([smallest, block[cand]])
        if smallest.size > keep:
            smallest = np.partition(smallest, keep - 1)[:keep]
        if smallest.size == keep:
            threshold = smallest.max()
    smallest.sort()
    pos_dist = np.concatenate(pos_dist)
    out = OrderedDict()
    for f, k in zip(fprs, ks):
        out[f] = 1.0 if k >= num_neg else float(np.mean(pos_dist < smallest[k]))
    return out


def evaluate_roc(distmat: np.ndarray, q_pids, g_pids, q_camids, g_camids, fprs: Sequence[float] = DEFAULT_FPRS,
                 *, junk_pid: Optional[int] = -1) -> "OrderedDict[float, float]":
    """:func:`roc_from_blocks` of a (Q, G) distance matrix."""
    distmat = np.asarray(distmat)
    gindex = GalleryIndex(g_pids, g_camids, junk_pid)
    return roc_from_blocks(lambda idx: distmat[idx], distmat.shape[0], q_pids, q_camids, gindex,
                           distmat.shape[1], fprs)
