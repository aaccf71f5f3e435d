"""Exact ReID ranking metrics (CMC, AP, INP) without sorting the gallery.

The classic evaluator argsorts every query's gallery distances. Only the positions of the true matches are
needed, and a query has few of them, so this module finds each match's position by counting: every
distance of a chunk of queries is mapped to one of ``num_buckets`` ordered buckets spanning the range of
that query's match distances, a single ``bincount`` gives how many entries lie in buckets below each match,
and only the few entries sharing a bucket with a match are compared exactly (tie broken by gallery index,
which is what a stable argsort does). Numbers are identical to the per-query stable-argsort algorithm.

Protocol (Market-1501): gallery entries with the same identity AND the same camera as the query are
removed; gallery entries whose identity is ``junk_pid`` (Market-1501's ``-1``) are removed; queries with no
remaining true match are skipped; at least one query must remain.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional, Tuple

import numpy as np

__all__ = ["evaluate_rank", "evaluate_features", "evaluate_blocks", "GalleryIndex", "ranked_gallery", "per_query_ap"]

logger = logging.getLogger(__name__)

# Target size of one chunk of distances (elements); a few of them stay in the L3 cache.
_CHUNK_ELEMENTS = 1 << 23
_MAX_CHUNK_ROWS = 512
_NUM_BUCKETS = 1024


class GalleryIndex:
    """Gallery identities grouped for fast lookup of each query's same-identity entries.

    Args:
        g_pids, g_camids: (G,) integer arrays.
        junk_pid: identity whose gallery entries are ignored (None: none).
    """

    def __init__(self, g_pids: np.ndarray, g_camids: np.ndarray, junk_pid: Optional[int] = -1):
        self.g_pids = np.asarray(g_pids).astype(np.int64, copy=False).ravel()
        self.g_camids = np.asarray(g_camids).astype(np.int64, copy=False).ravel()
        if self.g_pids.shape != self.g_camids.shape:
            raise ValueError(
                f"g_camids: {self.g_camids.shape[0]} entries; expected one per gallery pid ({self.g_pids.shape[0]})"
            )
        self.order = np.argsort(self.g_pids, kind="stable")
        self.sorted_pids = self.g_pids[self.order]
        self.junk_cols = (
            np.flatnonzero(self.g_pids == junk_pid) if junk_pid is not None else np.empty(0, np.int64)
        )
        self.junk_pid = junk_pid

    def matches(self, q_pids: np.ndarray, q_camids: np.ndarray):
        """Same-identity gallery entries of each query.

        Returns (rows, cols, positive): flat arrays sorted by row; ``positive`` is False for entries from
        the query's own camera (to be removed).
        """
        start = np.searchsorted(self.sorted_pids, q_pids, side="left")
        end = np.searchsorted(self.sorted_pids, q_pids, side="right")
        if self.junk_pid is not None:
            end = np.where(q_pids == self.junk_pid, start, end)
        counts = end - start
        rows = np.repeat(np.arange(len(q_pids)), counts)
        first = np.cumsum(counts) - counts
        within = np.arange(rows.size) - np.repeat(first, counts)
        cols = self.order[np.repeat(start, counts) + within]
        positive = self.g_camids[cols] != q_camids[rows]
        return rows, cols, positive


def _stable_positions(block: np.ndarray, rows: np.ndarray, cols: np.ndarray, invalid_rows: np.ndarray,
                      invalid_cols: np.ndarray, num_buckets: int) -> np.ndarray:
    """0-based position of each true match in its row of ``block`` after a stable sort of valid entries.

    Args:
        block: (R, G) float distances (not modified).
        rows, cols: (M,) true matches, sorted by row; every row has at least one.
        invalid_rows, invalid_cols: entries to leave out (same identity and camera, junk).
    Returns:
        (M,) int64 positions.
    """
    num_rows, num_cols = block.shape
    pos_d = block[rows, cols].astype(np.float64)
    if not np.all(np.isfinite(pos_d)):
        raise ValueError("distmat: true-match distances must be finite; got NaN or inf")
    row_start = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    lo = np.minimum.reduceat(pos_d, row_start)
    hi = np.maximum.reduceat(pos_d, row_start)
    width = hi - lo
    spread = np.median(width[width > 0]) if np.any(width > 0) else 1.0
    width = np.where(width > 0, width, spread)
    slots = num_buckets + 3  # below | num_buckets + 1 spanning the matches | above
    scale = num_buckets / width
    base = np.arange(num_rows, dtype=np.float64) * slots
    offset = base + 1.5 - lo * scale
    scale32 = scale.astype(block.dtype)[:, None]
    offset32 = offset.astype(block.dtype)[:, None]

    buf = np.multiply(block, scale32, dtype=block.dtype)
    buf += offset32
    np.clip(buf, base.astype(block.dtype)[:, None], (base + slots - 1).astype(block.dtype)[:, None], out=buf)
    if invalid_rows.size:
        buf[invalid_rows, invalid_cols] = (base[invalid_rows] + slots - 1).astype(block.dtype)
    keys = buf.astype(np.intp).ravel()
    del buf
    try:
        hist = np.bincount(keys, minlength=num_rows * slots)
    except ValueError:  # NaN turns into a negative key
        raise ValueError("distmat: distances must not be NaN") from None
    below = np.cumsum(hist) - hist  # entries in lower buckets, including earlier rows
    # The same float arithmetic gives each match its bucket; the mapping is monotone in the distance.
    pos_keys = keys[rows * num_cols + cols]
    row_base = (np.arange(num_rows) * slots)
    rank = below[pos_keys] - below[row_base[rows]]

    flag = np.zeros(num_rows * slots, dtype=bool)
    flag[pos_keys] = True
    shared = np.flatnonzero(flag[keys])  # entries sharing a bucket with some match (sorted)
    share_keys = keys[shared]
    share_d = block.ravel()[shared] if block.flags.c_contiguous else block[shared // num_cols, shared % num_cols]
    share_col = shared % num_cols
    order = np.lexsort((share_col, share_d, share_keys))
    inv = np.empty_like(order)
    inv[order] = np.arange(order.size)
    pos_flat = rows * num_cols + cols
    pos_in_shared = np.searchsorted(shared, pos_flat)
    sorted_keys = share_keys[order]
    bucket_start = np.searchsorted(sorted_keys, pos_keys, side="left")
    rank += inv[pos_in_shared] - bucket_start
    return rank


def _metrics_from_positions(rows: np.ndarray, positions: np.ndarray, num_rows: int, max_rank: int):
    """AP, INP and first-match position per row from the matches' 0-based positions."""
    order = np.lexsort((positions, rows))
    rows, positions = rows[order], positions[order]
    counts = np.bincount(rows, minlength=num_rows)
    first = np.cumsum(counts) - counts
    k = np.arange(rows.size) - np.repeat(first, counts) + 1  # 1-based index among the row's matches
    precision = k / (positions + 1.0)
    ap = np.add.reduceat(precision, first) / counts
    last = first + counts - 1
    inp = counts / (positions[last] + 1.0)
    return ap, inp, positions[first]


def evaluate_blocks(block_fn: Callable[[np.ndarray], np.ndarray], num_query: int, q_pids, q_camids,
                    gindex: GalleryIndex, num_gallery: int, max_rank: int = 50,
                    chunk_rows: Optional[int] = None):
    """Metrics of a distance matrix delivered chunk by chunk (see :func:`evaluate_rank`).

    Args:
        block_fn: maps sorted query indices (R,) to their (R, G) float distance rows.
    """
    q_pids = np.asarray(q_pids).astype(np.int64, copy=False).ravel()
    q_camids = np.asarray(q_camids).astype(np.int64, copy=False).ravel()
    if q_pids.shape[0] != num_query or q_camids.shape[0] != num_query:
        raise ValueError(
            f"q_pids/q_camids: {q_pids.shape[0]}/{q_camids.shape[0]} entries; expected {num_query} (one per query)"
        )
    if num_query == 0:
        raise ValueError("query set is empty; expected at least one query")
    rows, cols, positive = gindex.matches(q_pids, q_camids)
    has_match = np.bincount(rows[positive], minlength=num_query) > 0
    valid_q = np.flatnonzero(has_match)
    if valid_q.size == 0:
        raise ValueError(
            f"none of the {num_query} queries has a true match in the gallery of {num_gallery} after removing "
            "same-identity same-camera entries; expected at least one (check pids and camids)"
        )
    if max_rank > num_gallery:
        max_rank = num_gallery
    if chunk_rows is None:
        chunk_rows = int(np.clip(_CHUNK_ELEMENTS // max(num_gallery, 1), 8, _MAX_CHUNK_ROWS))

    # Per valid query: its same-identity entries, in valid-query order.
    remap = np.full(num_query, -1, dtype=np.int64)
    remap[valid_q] = np.arange(valid_q.size)
    keep = remap[rows] >= 0
    rows, cols, positive = remap[rows[keep]], cols[keep], positive[keep]
    row_ptr = np.searchsorted(rows, np.arange(valid_q.size + 1))
    junk = gindex.junk_cols

    all_ap = np.empty(valid_q.size)
    all_inp = np.empty(valid_q.size)
    first_pos = np.empty(valid_q.size, dtype=np.int64)
    for s in range(0, valid_q.size, chunk_rows):
        e = min(s + chunk_rows, valid_q.size)
        block = block_fn(valid_q[s:e])
        sl = slice(row_ptr[s], row_ptr[e])
        r, c, p = rows[sl] - s, cols[sl], positive[sl]
        inv_r, inv_c = r[~p], c[~p]
        if junk.size:
            inv_r = np.concatenate([inv_r, np.repeat(np.arange(e - s), junk.size)])
            inv_c = np.concatenate([inv_c, np.tile(junk, e - s)])
        pos = _stable_positions(block, r[p], c[p], inv_r, inv_c, _NUM_BUCKETS)
        ap, inp, fp = _metrics_from_positions(r[p], pos, e - s, max_rank)
        all_ap[s:e], all_inp[s:e], first_pos[s:e] = ap, inp, fp

    hits = np.bincount(first_pos[first_pos < max_rank], minlength=max_rank)
    cmc = np.cumsum(hits) / float(valid_q.size)
    return cmc.astype(np.float32), all_ap.astype(np.float32), all_inp.astype(np.float32)


def evaluate_rank(distmat: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray, q_camids: np.ndarray,
                  g_camids: np.ndarray, max_rank: int = 50, *, junk_pid: Optional[int] = -1,
                  chunk_rows: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CMC, AP and INP of a query-gallery distance matrix (Market-1501 protocol, exact).

    Args:
        distmat: (Q, G) float distances, smaller = more similar (any float dtype; not modified).
        q_pids, q_camids: (Q,) integer identities and cameras of the queries.
        g_pids, g_camids: (G,) integer identities and cameras of the gallery.
        max_rank: length of the CMC curve (lowered to G when the gallery is smaller).
        junk_pid: gallery identity ignored entirely (Market-1501 junk images); None keeps all.
        chunk_rows: queries per chunk (default: about a million distances per chunk).
    Returns:
        cmc (max_rank,) float32 in 0..1 averaged over valid queries; all_AP and all_INP (V,) float32 for
        the V queries that kept at least one true match, in query order.
    """
    distmat = np.asarray(distmat)
    if distmat.ndim != 2:
        raise ValueError(f"distmat: shape {distmat.shape}; expected (num_query, num_gallery)")
    if not np.issubdtype(distmat.dtype, np.floating):
        distmat = distmat.astype(np.float64)
    num_query, num_gallery = distmat.shape
    gindex = GalleryIndex(g_pids, g_camids, junk_pid)
    if gindex.g_pids.shape[0] != num_gallery:
        raise ValueError(f"g_pids: {gindex.g_pids.shape[0]} entries; expected {num_gallery} (distmat columns)")
    contiguous = np.ascontiguousarray

    def block_fn(idx: np.ndarray) -> np.ndarray:
        if idx[-1] - idx[0] + 1 == idx.size:
            return contiguous(distmat[idx[0]:idx[-1] + 1])
        return distmat[idx]

    return evaluate_blocks(block_fn, num_query, q_pids, q_camids, gindex, num_gallery, max_rank, chunk_rows)


def evaluate_features(q_feat: np.ndarray, g_feat: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray,
                      q_camids: np.ndarray, g_camids: np.ndarray, metric: str = "cosine", max_rank: int = 50,
                      *, junk_pid: Optional[int] = -1, chunk_rows: Optional[int] = None,
                      normalized: bool = False) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same as :func:`evaluate_rank`, computing the distances chunk by chunk from features.

    The (Q, G) matrix never exists; peak memory is the features plus a few chunks. Distances are those of
    :func:`fastreid.evaluation.distance.compute_distance` (float32).

    Args:
        q_feat: (Q, D) and g_feat: (G, D) features (float32 recommended).
        metric: "cosine" (1 - cosine similarity) or "euclidean" (squared euclidean).
        normalized: the features are already L2-normalised (skips that step for "cosine").
    """
    from .distance import DistanceBlocks

    blocks = DistanceBlocks(q_feat, g_feat, metric, normalized=normalized)
    gindex = GalleryIndex(g_pids, g_camids, junk_pid)
    if gindex.g_pids.shape[0] != blocks.num_gallery:
        raise ValueError(f"g_pids: {gindex.g_pids.shape[0]} entries; expected {blocks.num_gallery} (g_feat rows)")
    return evaluate_blocks(blocks.rows, blocks.num_query, q_pids, q_camids, gindex, blocks.num_gallery,
                           max_rank, chunk_rows)


def ranked_gallery(q_pid: int, q_camid: int, g_pids: np.ndarray, g_camids: np.ndarray,
                   junk_pid: Optional[int] = -1) -> np.ndarray:
    """Indices of the gallery entries one query is ranked against under the protocol above: its own
    identity seen by its own camera and the junk identity are left out (as :class:`GalleryIndex` does
    for the metrics)."""
    g_pids, g_camids = np.asarray(g_pids), np.asarray(g_camids)
    drop = (g_pids == q_pid) & (g_camids == q_camid)
    if junk_pid is not None:
        drop |= g_pids == junk_pid
    return np.flatnonzero(~drop)


def per_query_ap(distmat: np.ndarray, q_pids, g_pids, q_camids, g_camids) -> np.ndarray:
    """AP of every query by :func:`evaluate_rank` (NaN where a query has no true match left)."""
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_camids, g_camids = np.asarray(q_camids), np.asarray(g_camids)
    has_match = np.array([(g_pids[ranked_gallery(p, c, g_pids, g_camids)] == p).any()
                          for p, c in zip(q_pids, q_camids)], dtype=bool)
    ap = np.full(distmat.shape[0], np.nan)
    if has_match.any():
        _cmc, all_ap, _inp = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids,
                                           max_rank=min(50, distmat.shape[1]))
        if len(all_ap) != has_match.sum():
            raise AssertionError("evaluate_rank kept a different set of queries than ranked_gallery")
        ap[has_match] = np.asarray(all_ap, dtype=np.float64)
    return ap
