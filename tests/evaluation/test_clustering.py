import logging

import numpy as np
import pytest
from scipy import sparse
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from fastreid.evaluation import (
    ClusteringError,
    cluster_centroids,
    cluster_features,
    clustering_quality,
    dbscan_labels,
    jaccard_distance,
    l2_normalize,
)
from fastreid.evaluation import clustering as clustering_module
from fastreid.utils.errors import ConfigValueError


def dense_cluster_contrast_jaccard(feats, k1, k2):
    """Cluster Contrast's compute_jaccard_distance, dense and in float64, written for clarity."""
    x = feats.astype(np.float64)
    n = len(x)
    sq = 2.0 - 2.0 * x @ x.T
    table = np.argsort(sq, axis=1, kind="stable")[:, :k1]  # k1 columns, the image itself included
    half = int(np.around(k1 / 2.0))

    def reciprocal(i, k):
        forward = table[i, :k + 1]  # at most k1 entries: the table is k1 wide
        return forward[[i in table[j, :k + 1] for j in forward]]

    v = np.zeros((n, n))
    for i in range(n):
        base = reciprocal(i, k1)
        expansion = list(base)
        for c in base:
            cand = reciprocal(c, half)
            if len(np.intersect1d(cand, base)) > 2.0 / 3.0 * len(cand):
                expansion.extend(cand)
        expansion = np.unique(expansion)
        w = np.exp(-sq[i, expansion])
        v[i, expansion] = w / w.sum()
    if k2 != 1:
        v = np.stack([v[table[i, :k2]].mean(axis=0) for i in range(n)])
    common = np.minimum(v[:, None, :], v[None, :, :]).sum(axis=2)
    return np.maximum(1.0 - common / (2.0 - common), 0.0), common


def blobs(num_ids=6, per_id=12, dim=128, noise=0.35, num_noise=0, seed=0):
    """Unit features around identity centres that share a common direction (so an image's next nearest after
    its own identity are other identities), plus ``num_noise`` unrelated images orthogonal to that direction,
    labelled -1: no image has them among its k1 nearest, so they stay outliers."""
    rng = np.random.default_rng(seed)
    common = np.zeros(dim)
    common[0] = 6.0
    centres = common + rng.standard_normal((num_ids, dim))
    ids = np.repeat(np.arange(num_ids), per_id)
    feats = centres[ids] + noise * rng.standard_normal((len(ids), dim))
    if num_noise:
        unrelated = 3.0 * rng.standard_normal((num_noise, dim))
        unrelated[:, 0] = 0.0
        feats = np.concatenate([feats, unrelated])
        ids = np.concatenate([ids, -np.ones(num_noise, dtype=int)])
    order = rng.permutation(len(ids))
    return l2_normalize(feats[order].astype(np.float32)), ids[order]


def densify(distance):
    """The dense matrix a sparse Jaccard distance stands for: unstored pairs are exactly 1."""
    coo = distance.tocoo()
    dense = np.ones(distance.shape)
    dense[coo.row, coo.col] = coo.data
    return dense


def first_appearance(labels):
    """Renumber cluster ids by first appearance, the plain way."""
    mapping, out = {}, []
    for label in labels:
        if label < 0:
            out.append(-1)
            continue
        mapping.setdefault(label, len(mapping))
        out.append(mapping[label])
    return np.array(out)


@pytest.mark.parametrize("use_faiss", [False, True])
@pytest.mark.parametrize("k1,k2", [(30, 6), (8, 3), (5, 1)])
def test_sparse_jaccard_equals_dense_cluster_contrast(use_faiss, k1, k2):
    if use_faiss:
        pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((7, 16))
    ids = rng.integers(0, 7, 90)
    feats = l2_normalize((centres[ids] + 0.8 * rng.standard_normal((90, 16))).astype(np.float32))
    ours = jaccard_distance(feats, k1, k2, use_faiss=use_faiss)
    reference, common = dense_cluster_contrast_jaccard(feats, k1, k2)
    assert sparse.isspmatrix_csr(ours) and ours.shape == (90, 90)
    stored = np.zeros((90, 90), dtype=bool)
    coo = ours.tocoo()
    stored[coo.row, coo.col] = True
    np.testing.assert_array_equal(stored, (common > 0) | np.eye(90, dtype=bool))
    if k1 < 30:
        assert stored.sum() < 0.5 * 90 * 90  # genuinely sparse (k1 = 30 links most of 90 images)
    np.testing.assert_allclose(densify(ours), reference, atol=1e-6)
    np.testing.assert_array_equal(ours.diagonal(), 0.0)


def test_dbscan_on_sparse_equals_dbscan_on_dense():
    feats, _ = blobs(num_ids=8, per_id=10, noise=0.9, num_noise=6, seed=3)
    distance = jaccard_distance(feats, k1=12, k2=4)
    dense = densify(distance)
    seen_clusters, seen_outliers = False, False
    for eps in (0.3, 0.5, 0.6, 0.8):
        for min_samples in (1, 4, 8):
            ours = dbscan_labels(distance, eps, min_samples)
            reference = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(dense)
            np.testing.assert_array_equal(ours, first_appearance(reference))
            seen_clusters |= ours.max() >= 1
            seen_outliers |= (ours < 0).any()
    assert seen_clusters and seen_outliers


def test_dbscan_counts_explicit_zeros_as_neighbours_and_unstored_as_not():
    # 0-1-2 joined only by explicitly stored zeros; 3 and 4 at 0.5 from each other; diagonal of 3, 4 unstored
    rows, cols = [0, 0, 1, 1, 1, 2, 2, 3, 4], [0, 1, 0, 1, 2, 1, 2, 4, 3]
    vals = np.array([0, 0, 0, 0, 0, 0, 0, 0.5, 0.5])
    distance = sparse.csr_matrix((vals, cols, np.searchsorted(rows, np.arange(6))), shape=(5, 5))
    assert distance.nnz == 9
    np.testing.assert_array_equal(dbscan_labels(distance, eps=0.4, min_samples=3), [0, 0, 0, -1, -1])
    np.testing.assert_array_equal(dbscan_labels(distance, eps=0.6, min_samples=2), [0, 0, 0, 1, 1])


def test_dbscan_labels_follow_first_appearance():
    # 1, 2, 3 and 4, 5, 6 are two cores; 0 only touches 4, so it is a border point of the second cluster
    close = [(1, 2), (1, 3), (2, 3), (4, 5), (4, 6), (5, 6), (0, 4)]
    dense = np.ones((7, 7))
    np.fill_diagonal(dense, 0.0)
    for a, b in close:
        dense[a, b] = dense[b, a] = 0.1
    raw = DBSCAN(eps=0.5, min_samples=3, metric="precomputed").fit_predict(dense)
    assert raw[0] != 0  # scikit-learn numbers clusters by core point, so renumbering has work to do
    labels = dbscan_labels(sparse.csr_matrix(dense), eps=0.5, min_samples=3)
    np.testing.assert_array_equal(labels, [0, 1, 1, 1, 0, 0, 0])
    assert labels.dtype == np.int64


@pytest.mark.parametrize("seed", [0, 1])
def test_blobs_recovered_with_query_expansion(seed):
    feats, ids = blobs(num_ids=6, per_id=12, seed=seed)
    result = cluster_features(feats, eps=0.6, min_samples=4, k1=20, k2=6)
    assert adjusted_rand_score(ids, result.labels) == 1.0 and result.num_outliers == 0


def test_well_separated_blobs_recovered_and_noise_is_outlier():
    # k2 = 1: with query expansion an isolated image takes on the encodings of its nearest images, and
    # tight blobs make those one blob, so it would join that blob as a border point
    feats, ids = blobs(num_ids=6, per_id=12, noise=0.35, num_noise=5, seed=0)
    result = cluster_features(feats, eps=0.6, min_samples=4, k1=20, k2=1)
    noise = ids < 0
    assert (result.labels[noise] == -1).all()
    assert (result.labels[~noise] >= 0).all()
    assert adjusted_rand_score(ids[~noise], result.labels[~noise]) == 1.0
    assert result.num_clusters == 6 and result.num_outliers == 5
    assert result.outlier_ratio == pytest.approx(5 / 77)
    np.testing.assert_array_equal(result.cluster_sizes, [12] * 6)
    assert result.seconds > 0
    first = [int(np.flatnonzero(result.labels == c)[0]) for c in range(6)]
    assert first == sorted(first)
    quality = clustering_quality(result.labels, ids)
    assert quality["ari"] == 1.0 and quality["pairwise_f1"] == 1.0 and quality["num_clusters"] == 6


def test_progress_reports_every_stage_and_logs_large_runs(monkeypatch, caplog):
    feats, _ = blobs(num_ids=4, per_id=10, seed=2)
    calls = []
    monkeypatch.setattr(clustering_module, "_LOG_FROM", 10)
    with caplog.at_level(logging.INFO, logger="fastreid.evaluation.clustering"):
        jaccard_distance(feats, k1=10, k2=3, progress=lambda *a: calls.append(a))
    finished = {stage for stage, done, total in calls if done == total == 40}
    assert finished == {"knn", "expansion", "weights", "jaccard"}
    assert any("jaccard 40/40 (100%)" in r.getMessage() for r in caplog.records)


def test_pairwise_metrics_by_hand():
    pred = np.array([0, 0, 1, 1, 1, -1])
    true = np.array([1, 1, 1, 1, 2, 2])
    q = clustering_quality(pred, true)
    # clustered: images 0-4; predicted pairs (0,1) (2,3) (2,4) (3,4); same-identity pairs: the 6 among 0-3
    assert q["pairwise_precision"] == pytest.approx(2 / 4)
    assert q["pairwise_recall"] == pytest.approx(2 / 6)
    assert q["pairwise_f1"] == pytest.approx(0.4)
    # ARI on the 5 clustered images: (2 - 4 * 6 / 10) / ((4 + 6) / 2 - 4 * 6 / 10)
    assert q["ari"] == pytest.approx(-2 / 13)
    assert q["ari"] != pytest.approx(adjusted_rand_score(true, pred))  # the outlier is left out
    assert q["nmi"] == pytest.approx(normalized_mutual_info_score(true[:5], pred[:5]))
    assert q["num_clusters"] == 2 and q["num_true_ids"] == 2
    assert q["outlier_ratio"] == pytest.approx(1 / 6)


def test_pairwise_metrics_other_example_and_perfect_clustering():
    q = clustering_quality(np.array([0, 0, 0, 1, 1, -1]), np.array([5, 5, 5, 7, 8, 5]))
    assert (q["pairwise_precision"], q["pairwise_recall"]) == (pytest.approx(0.75), pytest.approx(1.0))
    assert q["pairwise_f1"] == pytest.approx(6 / 7)
    perfect = clustering_quality(np.array([2, 2, 0, 0, 1]), np.array([9, 9, 4, 4, 3]))
    assert all(perfect[k] == pytest.approx(1.0) for k in ("nmi", "ari", "pairwise_precision", "pairwise_recall"))
    none = clustering_quality(np.array([-1, -1]), np.array([0, 1]))
    assert none["pairwise_f1"] == 0.0 and none["num_clusters"] == 0 and none["outlier_ratio"] == 1.0


def test_cluster_centroids_mean_of_normalised_features():
    feats = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 5.0], [1.0, 1.0]], dtype=np.float32)
    centroids = cluster_centroids(feats, np.array([0, 0, 1, -1]))
    np.testing.assert_allclose(centroids, [[np.sqrt(0.5), np.sqrt(0.5)], [0.0, 1.0]], atol=1e-6)
    assert centroids.dtype == np.float32
    with pytest.raises(ValueError, match="cluster id 1 has no image"):
        cluster_centroids(feats, np.array([0, 0, 2, -1]))


def one_line_error(excinfo, *fragments):
    message = str(excinfo.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("eps", [0.0, 1.0, 1.5, -0.2, "0.6", True])
def test_bad_eps(eps):
    feats, _ = blobs(num_ids=2, per_id=5)
    with pytest.raises(ConfigValueError) as excinfo:
        cluster_features(feats, eps=eps)
    one_line_error(excinfo, "UNSUP.CLUSTER.EPS", "(0, 1)")
    with pytest.raises(ConfigValueError, match="UNSUP.CLUSTER.EPS"):
        dbscan_labels(sparse.identity(5, format="csr"), eps=eps)


@pytest.mark.parametrize("key,kwargs", [("MIN_SAMPLES", {"min_samples": 0}), ("MIN_SAMPLES", {"min_samples": 2.5}),
                                        ("K1", {"k1": 0}), ("K2", {"k2": 0}), ("K1", {"k1": -3})])
def test_bad_counts(key, kwargs):
    feats, _ = blobs(num_ids=2, per_id=5)
    with pytest.raises(ConfigValueError) as excinfo:
        cluster_features(feats, **kwargs)
    one_line_error(excinfo, f"UNSUP.CLUSTER.{key}", ">= 1")


def test_bad_k_in_jaccard_and_custom_key_prefix():
    feats, _ = blobs(num_ids=2, per_id=5)
    with pytest.raises(ConfigValueError, match=r"^UNSUP\.CLUSTER\.K2=0;"):
        jaccard_distance(feats, k1=5, k2=0)
    with pytest.raises(ConfigValueError, match=r"^DA\.TARGET\.EPS=2"):
        cluster_features(feats, eps=2, key_prefix="DA.TARGET")


def test_fewer_images_than_min_samples():
    feats, _ = blobs(num_ids=1, per_id=3)
    with pytest.raises(ConfigValueError) as excinfo:
        cluster_features(feats, min_samples=4)
    one_line_error(excinfo, "3 images, fewer than UNSUP.CLUSTER.MIN_SAMPLES=4")
    with pytest.raises(ConfigValueError, match="3 images, fewer than UNSUP.CLUSTER.MIN_SAMPLES=4"):
        dbscan_labels(sparse.identity(3, format="csr"), eps=0.5, min_samples=4)


def test_features_must_be_normalised():
    with pytest.raises(ValueError, match="L2-normalised"):
        jaccard_distance(np.full((6, 4), 2.0, dtype=np.float32), k1=3, k2=1)


def test_round_without_cluster_raises():
    rng = np.random.default_rng(4)
    feats = l2_normalize(rng.standard_normal((12, 64)).astype(np.float32))
    with pytest.raises(ClusteringError) as excinfo:
        cluster_features(feats, eps=0.05, min_samples=3, k1=5, k2=2)
    one_line_error(excinfo, "no cluster", "UNSUP.CLUSTER.EPS=0.05", "UNSUP.CLUSTER.MIN_SAMPLES=3",
                   "raise EPS or lower MIN_SAMPLES")


def test_round_with_single_cluster_raises():
    feats, _ = blobs(num_ids=1, per_id=20, noise=0.2)
    with pytest.raises(ClusteringError) as excinfo:
        cluster_features(feats, eps=0.6, min_samples=4, k1=10, k2=3)
    one_line_error(excinfo, "single cluster", "UNSUP.CLUSTER.EPS=0.6", "lower EPS or raise MIN_SAMPLES")


def line_distance(points):
    x = np.asarray(points, dtype=np.float64)
    return np.abs(x[:, None] - x[None, :])


# three groups of four on a line, 0.2 apart: 0.005 finds nothing, 0.05 and 0.1 the three groups, 0.25 one
THREE_GROUPS = [g + 0.01 * i for g in (0.0, 0.2, 0.4) for i in range(4)]


def test_most_clusters_eps_picks_the_peak_and_the_larger_radius_on_a_tie():
    distance = line_distance(THREE_GROUPS)
    eps, labels, counts = clustering_module.most_clusters_eps(distance, [0.25, 0.005, 0.1, 0.05], min_samples=4)
    assert counts == {0.005: 0, 0.05: 3, 0.1: 3, 0.25: 1}
    assert eps == 0.1
    np.testing.assert_array_equal(labels, np.repeat([0, 1, 2], 4))
    np.testing.assert_array_equal(labels, dbscan_labels(distance, 0.1, 4))


def test_most_clusters_eps_checks_the_grid():
    distance = line_distance(THREE_GROUPS)
    with pytest.raises(ConfigValueError, match="EPS_GRID: empty"):
        clustering_module.most_clusters_eps(distance, [], min_samples=4)
    with pytest.raises(ConfigValueError, match="EPS"):
        clustering_module.most_clusters_eps(distance, [0.1, 1.5], min_samples=4)


def test_cluster_features_with_a_grid_reports_the_chosen_radius():
    feats, ids = blobs(num_ids=6, per_id=12, seed=0)
    single = cluster_features(feats, eps=0.6, min_samples=4, k1=20, k2=6)
    assert single.eps == 0.6 and single.clusters_per_eps == {0.6: 6}
    grid = cluster_features(feats, eps=(0.05, 0.6), min_samples=4, k1=20, k2=6)
    assert set(grid.clusters_per_eps) == {0.05, 0.6} and grid.clusters_per_eps[0.6] == 6  # 0.05: <= 6
    assert grid.eps == 0.6
    np.testing.assert_array_equal(grid.labels, single.labels)


def test_round_with_a_grid_that_finds_no_cluster_names_the_grid():
    rng = np.random.default_rng(4)
    feats = l2_normalize(rng.standard_normal((12, 64)).astype(np.float32))
    with pytest.raises(ClusteringError) as excinfo:
        cluster_features(feats, eps=(0.01, 0.05), min_samples=3, k1=5, k2=2)
    one_line_error(excinfo, "no cluster", "UNSUP.CLUSTER.EPS_GRID=(0.01, 0.05)")
