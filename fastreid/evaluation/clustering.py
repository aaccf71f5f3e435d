"""The clustering step of clustering-based unsupervised ReID (Cluster Contrast, SpCL), on the CPU.

Each round: k-reciprocal Jaccard distance between all training features (Cluster Contrast's
``compute_jaccard_distance``: k1 30, k2 6), then DBSCAN on it (eps 0.6, min_samples 4); images labelled -1
are outliers. Cluster Contrast holds two dense N x N float32 matrices (4.3 GB each on MSMT17); here the
distance is a sparse matrix: a pair whose encodings share no image has distance exactly 1, which is never
within eps < 1, so only pairs with shared support (and the diagonal) are stored, and DBSCAN reads the
sparse matrix directly. The encoding is :func:`fastreid.evaluation.rerank.k_reciprocal_encoding`, the one
that re-ranking uses.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
from scipy import sparse

from fastreid.utils.errors import ConfigValueError, UserError

from .distance import l2_normalize
from .rerank import encoding_columns, k_reciprocal_encoding, sum_of_minima

__all__ = ["ClusteringError", "ClusteringResult", "jaccard_distance", "dbscan_labels", "cluster_features", "most_clusters_eps",
           "clustering_quality", "cluster_centroids"]

logger = logging.getLogger(__name__)

Progress = Optional[Callable[[str, int, int], None]]

# Rows of the Jaccard sums are accumulated densely, this many float64 cells per block (64 MB).
_BLOCK_CELLS = 8 * 1024 * 1024
# From this many images on, the stages are logged every ~10% (the MSMT17 training set takes minutes).
_LOG_FROM = 5000
_NORM_TOLERANCE = 1e-3


class ClusteringError(UserError):
    """A clustering round gave no usable pseudo-labels (no cluster, or everything in one cluster); the
    message names the DBSCAN settings and which way to change them."""


@dataclass
class ClusteringResult:
    """Pseudo-labels of one clustering round.

    labels: (N,) int64, cluster ids 0..C-1 in order of first appearance, -1 for outliers;
    cluster_sizes: (C,) int64 images per cluster; seconds: wall time of distance + DBSCAN;
    eps: the DBSCAN radius used (the chosen one when a grid was given); clusters_per_eps: {eps: clusters}
    of every radius tried.
    """

    labels: np.ndarray
    num_clusters: int
    num_outliers: int
    outlier_ratio: float
    seconds: float
    cluster_sizes: np.ndarray
    eps: float = 0.6
    clusters_per_eps: Dict[float, int] = field(default_factory=dict)


def _check_positive_int(value: object, key: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, else a one-line ConfigValueError naming ``key``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigValueError(f"{key}={value!r}; expected an integer >= {minimum}", key=key, value=value,
                               expected=f"integer >= {minimum}")
    return int(value)


def _check_eps(eps: object, key_prefix: str) -> float:
    """eps must lie strictly between 0 and 1: unstored pairs have Jaccard distance 1, never neighbours."""
    key = f"{key_prefix}.EPS"
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, (int, float, np.integer, np.floating)) \
            or not 0.0 < float(eps) < 1.0:
        raise ConfigValueError(f"{key}={eps!r}; expected a number in (0, 1) (a Jaccard distance)", key=key,
                               value=eps, expected="0 < EPS < 1")
    return float(eps)


def _check_features(features: np.ndarray) -> np.ndarray:
    """(N, D) finite float32 rows of unit L2 norm (the Jaccard weights assume unit vectors)."""
    feats = np.ascontiguousarray(features, dtype=np.float32)
    if feats.ndim != 2 or feats.shape[0] == 0 or feats.shape[1] == 0:
        raise ValueError(f"features: shape {feats.shape}; expected (N, D) with N, D >= 1")
    norms = np.sqrt(np.einsum("ij,ij->i", feats, feats, dtype=np.float64))
    if not np.all(np.abs(norms - 1.0) <= _NORM_TOLERANCE):
        bad = int(np.flatnonzero(~(np.abs(norms - 1.0) <= _NORM_TOLERANCE))[0])
        raise ValueError(f"features: row {bad} has L2 norm {norms[bad]:.4g}; expected L2-normalised rows "
                         "(use fastreid.evaluation.l2_normalize)")
    return feats


def _stage_logger(n: int, progress: Progress) -> Callable[[str, int, int], None]:
    """Progress callback that forwards to ``progress`` and, for large N, logs each stage every ~10%."""
    last: Dict[str, int] = {}

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)
        if n < _LOG_FROM or total <= 0:
            return
        tenth = 10 * done // total
        if tenth > last.get(stage, -1):
            last[stage] = tenth
            logger.info("jaccard distance of %d images: %s %d/%d (%d%%)", n, stage, done, total, 100 * done // total)

    return report


def jaccard_distance(features: np.ndarray, k1: int = 30, k2: int = 6, *, use_faiss: bool = True,
                     progress: Progress = None, key_prefix: str = "UNSUP.CLUSTER") -> sparse.csr_matrix:
    """Cluster Contrast's k-reciprocal Jaccard distance of L2-normalised features (N, D), as a sparse
    (N, N) float64 CSR matrix.

    Algorithm (Cluster Contrast ``compute_jaccard_distance``): exact L2 kNN with k1 entries counting the
    image itself; reciprocal sets with the 2/3 expansion; weights softmax(-(2 - 2<f_i, f_j>)); query
    expansion over the k2 nearest (self included); s_ij = sum_k min(V_ik, V_jk), d_ij = 1 - s/(2 - s),
    negatives set to 0. Stored: exactly the pairs with s_ij > 0 (their encodings share an image), plus the
    diagonal as an explicit 0; every unstored pair has distance exactly 1. No N x N array is built: the
    sums are accumulated for blocks of rows. ``progress(stage, done, total)`` is called as the stages
    ("knn", "expansion", "weights", "jaccard") advance; for N >= 5000 they are also logged every ~10%.
    """
    k1 = _check_positive_int(k1, f"{key_prefix}.K1")
    k2 = _check_positive_int(k2, f"{key_prefix}.K2")
    feats = _check_features(features)
    n = len(feats)
    report = _stage_logger(n, progress)
    start = time.perf_counter()
    encoding = k_reciprocal_encoding(feats, k1, k2, "euclidean", use_faiss, k1_includes_self=True,
                                     progress=report)
    columns = encoding_columns(encoding)
    block = max(1, _BLOCK_CELLS // n)
    indptr, indices, data = [np.zeros(1, np.int64)], [], []
    for lo in range(0, n, block):
        idx = np.arange(lo, min(lo + block, n))
        common = sum_of_minima(encoding, columns, idx, n)
        common[np.arange(len(idx)), idx] = 1.0  # self-similarity: store the diagonal, as distance 0
        flat = np.flatnonzero(common.ravel() != 0)  # a bool scan is ~3x faster than nonzero on floats
        rows, cols = np.divmod(flat, n)
        s = common.ravel()[flat]
        indices.append(cols)
        data.append(np.maximum(1.0 - s / (2.0 - s), 0.0))
        indptr.append(indptr[-1][-1] + np.cumsum(np.bincount(rows, minlength=len(idx))))
        report("jaccard", idx[-1] + 1, n)
    indptr = np.concatenate(indptr)
    index_dtype = np.int32 if max(indptr[-1], n) < 2**31 else np.int64  # halves the index memory
    distance = sparse.csr_matrix((np.concatenate(data), np.concatenate(indices).astype(index_dtype),
                                  indptr.astype(index_dtype)), shape=(n, n))
    logger.debug("jaccard distance of %d images: %d stored pairs, %.1f s", n, distance.nnz,
                 time.perf_counter() - start)
    return distance


def _renumber_by_first_appearance(labels: np.ndarray) -> np.ndarray:
    """Cluster ids 0..C-1 in the order their first image appears; -1 stays -1 (deterministic ids)."""
    out = np.full(len(labels), -1, dtype=np.int64)
    clustered = labels >= 0
    uniq, first = np.unique(labels[clustered], return_index=True)
    new_id = np.empty(len(uniq), dtype=np.int64)
    new_id[np.argsort(first)] = np.arange(len(uniq))
    out[clustered] = new_id[np.searchsorted(uniq, labels[clustered])]
    return out


def _check_min_samples(min_samples: object, num_images: int, key_prefix: str) -> int:
    key = f"{key_prefix}.MIN_SAMPLES"
    min_samples = _check_positive_int(min_samples, key)
    if num_images < min_samples:
        raise ConfigValueError(f"{num_images} images, fewer than {key}={min_samples}; DBSCAN cannot form a "
                               "cluster (use more images or a smaller MIN_SAMPLES)", key=key, value=min_samples,
                               expected=f"<= {num_images}")
    return min_samples


def dbscan_labels(distance, eps: float = 0.6, min_samples: int = 4, *,
                  key_prefix: str = "UNSUP.CLUSTER") -> np.ndarray:
    """DBSCAN labels (N,) int64 of a precomputed (N, N) distance matrix, -1 for outliers.

    ``distance`` is a scipy sparse matrix as :func:`jaccard_distance` returns (or a dense array). With a
    sparse matrix scikit-learn counts the stored entries <= eps as neighbours, explicit zeros included,
    and unstored pairs as non-neighbours, so for eps < 1 the labels equal DBSCAN on the dense matrix
    whose unstored entries are 1. Cluster ids are renumbered 0..C-1 by first appearance.
    """
    from sklearn.cluster import DBSCAN

    eps = _check_eps(eps, key_prefix)
    shape = distance.shape
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"distance: shape {shape}; expected a square (N, N) matrix")
    min_samples = _check_min_samples(min_samples, shape[0], key_prefix)
    if sparse.issparse(distance):
        distance = sparse.csr_matrix(distance)  # scikit-learn wants CSR; keeps explicit zeros
    labels = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(distance)
    return _renumber_by_first_appearance(labels)


def _check_round(labels: np.ndarray, eps, min_samples: int, key_prefix: str, eps_key: str = "EPS") -> None:
    """A round with no cluster, or with every clustered image in one cluster, cannot train anything."""
    settings = f"{key_prefix}.{eps_key}={eps} and {key_prefix}.MIN_SAMPLES={min_samples}"
    num_clusters = int(labels.max()) + 1 if len(labels) else 0
    if num_clusters == 0:
        raise ClusteringError(f"clustering found no cluster among {len(labels)} images with {settings}: every "
                              "image is an outlier; raise EPS or lower MIN_SAMPLES")
    if num_clusters == 1:
        outliers = int((labels < 0).sum())
        raise ClusteringError(f"clustering put all {len(labels) - outliers} clustered images ({outliers} "
                              f"outliers) into a single cluster with {settings}; lower EPS or raise MIN_SAMPLES")


def most_clusters_eps(distance, eps_grid: Sequence[float], min_samples: int, *,
                      key_prefix: str = "UNSUP.CLUSTER") -> Tuple[float, np.ndarray, Dict[float, int]]:
    """DBSCAN at every radius of ``eps_grid``; returns the radius that found the most clusters (a tie goes
    to the larger radius: fewer images left out), its labels and {eps: clusters} of every radius.

    A label-free choice: too small a radius leaves most images out and finds few clusters, too large a
    one merges identities into few clusters; the count peaks between the two.
    """
    if not len(eps_grid):
        raise ConfigValueError(f"{key_prefix}.EPS_GRID: empty; expected radii in (0, 1) to choose from",
                               key=f"{key_prefix}.EPS_GRID", value=tuple(eps_grid))
    grid = sorted({_check_eps(e, key_prefix) for e in eps_grid})
    counts: Dict[float, int] = {}
    best: Optional[Tuple[int, float, np.ndarray]] = None
    for eps in grid:
        labels = dbscan_labels(distance, eps, min_samples, key_prefix=key_prefix)
        counts[eps] = int(labels.max()) + 1 if len(labels) else 0
        if best is None or counts[eps] >= best[0]:
            best = (counts[eps], eps, labels)
    assert best is not None
    return best[1], best[2], counts


def cluster_features(features: np.ndarray, eps: Union[float, Sequence[float]] = 0.6, min_samples: int = 4,
                     k1: int = 30, k2: int = 6, use_faiss: bool = True, *, key_prefix: str = "UNSUP.CLUSTER",
                     progress: Progress = None) -> ClusteringResult:
    """One clustering round: :func:`jaccard_distance` then :func:`dbscan_labels` on L2-normalised features.

    ``eps``: one radius, or several, of which the one finding the most clusters is used
    (:func:`most_clusters_eps`). Settings are checked before the (minutes long) distance. Raises
    :class:`ClusteringError` when DBSCAN finds no cluster or a single one, since neither gives
    pseudo-labels to train on.
    """
    is_grid = isinstance(eps, (list, tuple))
    grid = [_check_eps(e, key_prefix) for e in (eps if is_grid else [eps])]  # before the distance
    min_samples = _check_min_samples(min_samples, len(features), key_prefix)
    start = time.perf_counter()
    distance = jaccard_distance(features, k1, k2, use_faiss=use_faiss, progress=progress, key_prefix=key_prefix)
    eps, labels, counts = most_clusters_eps(distance, grid, min_samples, key_prefix=key_prefix)
    del distance
    seconds = time.perf_counter() - start
    if is_grid:
        _check_round(labels, tuple(grid), min_samples, key_prefix, eps_key="EPS_GRID")
    else:
        _check_round(labels, eps, min_samples, key_prefix)
    sizes = np.bincount(labels[labels >= 0])
    num_outliers = int((labels < 0).sum())
    tried = " (eps %s of %s)" % (eps, ", ".join(f"{e}: {c}" for e, c in counts.items())) if is_grid else ""
    logger.info("clustering: %d images -> %d clusters, %d outliers (%.1f%%), %.1f s%s", len(labels), len(sizes),
                num_outliers, 100.0 * num_outliers / len(labels), seconds, tried)
    return ClusteringResult(labels=labels, num_clusters=len(sizes), num_outliers=num_outliers,
                            outlier_ratio=num_outliers / len(labels), seconds=seconds,
                            cluster_sizes=sizes.astype(np.int64), eps=float(eps), clusters_per_eps=counts)


def _same_cluster_pairs(counts: np.ndarray) -> float:
    """Number of unordered pairs inside groups of the given sizes: sum of n (n - 1) / 2."""
    counts = counts.astype(np.float64)
    return float((counts * (counts - 1.0) / 2.0).sum())


def _pairwise_scores(pred: np.ndarray, true: np.ndarray) -> Dict[str, float]:
    """Pairwise precision / recall / F1 from the contingency counts of (pred, true) (no O(N^2) pair list).

    A pair is predicted positive when both images share a predicted cluster and truly positive when they
    share an identity; a ratio whose denominator is 0 is reported as 0.
    """
    _, pred_idx = np.unique(pred, return_inverse=True)
    _, true_idx = np.unique(true, return_inverse=True)
    _, joint = np.unique(pred_idx.astype(np.int64) * (true_idx.max(initial=0) + 1) + true_idx,
                         return_counts=True)
    both = _same_cluster_pairs(joint)
    predicted = _same_cluster_pairs(np.bincount(pred_idx))
    actual = _same_cluster_pairs(np.bincount(true_idx))
    precision = both / predicted if predicted else 0.0
    recall = both / actual if actual else 0.0
    f1 = 2.0 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"pairwise_precision": precision, "pairwise_recall": recall, "pairwise_f1": f1}


def clustering_quality(pred: np.ndarray, true: np.ndarray) -> Dict[str, float]:
    """How well pseudo-labels ``pred`` (-1 = outlier) match identities ``true``, both (N,).

    ``nmi`` and ``ari`` (scikit-learn's normalized_mutual_info_score / adjusted_rand_score) and the pairwise
    precision / recall / F1 are computed on the clustered images only: outliers are excluded, so these
    scores say how pure and complete the clusters are, and ``outlier_ratio`` says how many images they
    leave out. Pairs: all unordered pairs of clustered images; predicted positive = same cluster, positive
    = same identity. ``num_true_ids`` counts the identities of all N images. With no clustered image the
    scores are 0.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    pred, true = np.asarray(pred), np.asarray(true)
    if pred.shape != true.shape or pred.ndim != 1:
        raise ValueError(f"pred {pred.shape} and true {true.shape}; expected two (N,) label arrays")
    clustered = pred >= 0
    out: Dict[str, float] = {"nmi": 0.0, "ari": 0.0, "pairwise_precision": 0.0, "pairwise_recall": 0.0,
                             "pairwise_f1": 0.0}
    if clustered.any():
        p, t = pred[clustered], true[clustered]
        out["nmi"] = float(normalized_mutual_info_score(t, p))
        out["ari"] = float(adjusted_rand_score(t, p))
        out.update(_pairwise_scores(p, t))
    out["num_clusters"] = int(len(np.unique(pred[clustered])))
    out["outlier_ratio"] = float(1.0 - clustered.mean()) if len(pred) else 0.0
    out["num_true_ids"] = int(len(np.unique(true)))
    return out


def cluster_centroids(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(C, D) float32 cluster memory: the mean of each cluster's L2-normalised features, re-normalised
    (Cluster Contrast's initial memory); outliers (-1) are ignored; ``labels`` must use ids 0..C-1."""
    feats = l2_normalize(np.asarray(features, dtype=np.float32))
    labels = np.asarray(labels)
    if labels.shape != (len(feats),):
        raise ValueError(f"labels: shape {labels.shape}; expected ({len(feats)},), one per feature row")
    clustered = labels >= 0
    if not clustered.any():
        raise ValueError("labels: every image is an outlier (-1); expected at least one cluster")
    sizes = np.bincount(labels[clustered])
    if (sizes == 0).any():
        raise ValueError(f"labels: cluster id {int(np.flatnonzero(sizes == 0)[0])} has no image; expected ids "
                         "0..C-1 (renumber the clusters)")
    indicator = sparse.csr_matrix((np.ones(int(clustered.sum()), np.float32),
                                   (labels[clustered], np.flatnonzero(clustered))), shape=(len(sizes), len(feats)))
    sums = np.asarray(indicator @ feats)
    return l2_normalize(sums / sizes[:, None].astype(np.float32))
