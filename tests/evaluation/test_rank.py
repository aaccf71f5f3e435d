import numpy as np
import pytest

from fastreid.evaluation import compute_distance, evaluate_features, evaluate_rank


def _random_problem(rng, num_q, num_g, num_ids, num_cams, junk=False):
    low = -1 if junk else 0
    q_pids = rng.integers(0, num_ids, num_q)
    g_pids = rng.integers(low, num_ids, num_g)
    q_camids = rng.integers(0, num_cams, num_q)
    g_camids = rng.integers(0, num_cams, num_g)
    return q_pids, g_pids, q_camids, g_camids


def _assert_same(ours, ref):
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_matches_argsort_reference_on_random_distances(seed, rank_reference):
    rng = np.random.default_rng(seed)
    pids = _random_problem(rng, int(rng.integers(5, 40)), int(rng.integers(30, 400)), 12, 4, junk=seed % 2 == 1)
    dist = rng.random((len(pids[0]), len(pids[1])))
    chunk = int(rng.integers(1, 17))
    _assert_same(evaluate_rank(dist, *pids, chunk_rows=chunk), rank_reference(dist, *pids))


def test_ties_follow_a_stable_argsort(rank_reference):
    rng = np.random.default_rng(3)
    pids = _random_problem(rng, 30, 200, 6, 3)
    dist = np.round(rng.random((30, 200)) * 8).astype(np.float32) / 8  # many equal distances
    _assert_same(evaluate_rank(dist, *pids, chunk_rows=7), rank_reference(dist, *pids))


def test_same_camera_match_is_removed_not_counted():
    # gallery: same id same cam (nearest, removed), other id, same id other cam
    dist = np.array([[0.1, 0.2, 0.3]])
    cmc, ap, inp = evaluate_rank(dist, np.array([1]), np.array([1, 2, 1]), np.array([0]), np.array([0, 1, 1]))
    assert cmc[0] == 0.0 and cmc[1] == 1.0  # the match is second after removal
    assert ap[0] == pytest.approx(0.5)
    assert inp[0] == pytest.approx(0.5)
    assert len(cmc) == 3  # max_rank lowered to the gallery size


def test_junk_identity_in_gallery_is_ignored():
    dist = np.array([[0.1, 0.2, 0.3]])
    cmc, ap, _ = evaluate_rank(dist, np.array([1]), np.array([-1, 2, 1]), np.array([0]), np.array([1, 1, 1]))
    assert ap[0] == pytest.approx(0.5)  # junk at 0.1 dropped, the negative at 0.2 stays
    cmc_kept, ap_kept, _ = evaluate_rank(dist, np.array([1]), np.array([-1, 2, 1]), np.array([0]),
                                         np.array([1, 1, 1]), junk_pid=None)
    assert ap_kept[0] == pytest.approx(1 / 3)


def test_single_match_gives_map_equal_to_minp():
    rng = np.random.default_rng(0)
    num_q = 20
    g_pids = np.arange(num_q)  # one gallery image per identity (VehicleID-like)
    dist = rng.random((num_q, num_q))
    cmc, ap, inp = evaluate_rank(dist, np.arange(num_q), g_pids, np.zeros(num_q), np.ones(num_q))
    np.testing.assert_allclose(ap, inp)
    np.testing.assert_allclose(ap, 1.0 / (1 + (dist < dist[np.arange(num_q), np.arange(num_q)][:, None]).sum(1)))


def test_queries_without_match_are_skipped():
    dist = np.array([[0.1, 0.2], [0.3, 0.4]])
    cmc, ap, _ = evaluate_rank(dist, np.array([1, 9]), np.array([1, 2]), np.array([0, 0]), np.array([1, 1]))
    assert len(ap) == 1 and cmc[0] == 1.0


def test_no_valid_query_raises_naming_the_count():
    dist = np.zeros((3, 2))
    with pytest.raises(ValueError, match="none of the 3 queries"):
        evaluate_rank(dist, np.array([1, 1, 2]), np.array([1, 3]), np.array([0, 0, 0]), np.array([0, 0]))


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="g_pids"):
        evaluate_rank(np.zeros((1, 3)), np.array([1]), np.array([1, 2]), np.array([0]), np.array([1, 1]))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_features_path_equals_distance_matrix_path(metric, rank_reference):
    rng = np.random.default_rng(1)
    q_feat = rng.standard_normal((25, 16)).astype(np.float32)
    g_feat = rng.standard_normal((300, 16)).astype(np.float32)
    pids = _random_problem(rng, 25, 300, 10, 3)
    dist = compute_distance(q_feat, g_feat, metric)
    expected = rank_reference(dist, *pids)
    _assert_same(evaluate_features(q_feat, g_feat, *pids, metric=metric, chunk_rows=6), expected)
    if metric == "cosine":
        qn = q_feat / np.linalg.norm(q_feat, axis=1, keepdims=True)
        gn = g_feat / np.linalg.norm(g_feat, axis=1, keepdims=True)
        np.testing.assert_allclose(dist, 1 - qn @ gn.T, atol=1e-5)
    else:
        np.testing.assert_allclose(dist, ((q_feat[:, None] - g_feat[None]) ** 2).sum(-1), rtol=1e-4, atol=1e-3)
