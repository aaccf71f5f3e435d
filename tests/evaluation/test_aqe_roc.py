import numpy as np
import pytest

from fastreid.evaluation import aqe, evaluate_roc


def test_aqe_on_three_hand_checked_vectors():
    q = np.array([[1.0, 0.0]], np.float32)
    g = np.array([[0.6, 0.8], [0.0, 1.0]], np.float32)
    new_q, new_g = aqe(q, g, qe_times=1, qe_k=2, alpha=1.0)
    # f0 + 0.6 f1 = (1.36, 0.48); f1 + 0.8 f2 = (0.6, 1.6); f2 + 0.8 f1 = (0.48, 1.64); then normalised
    np.testing.assert_allclose(new_q, [[1.36 / 2.08 ** 0.5, 0.48 / 2.08 ** 0.5]], atol=1e-6)
    np.testing.assert_allclose(new_g, [[0.6 / 2.92 ** 0.5, 1.6 / 2.92 ** 0.5],
                                       [0.48 / 2.92 ** 0.5, 1.64 / 2.92 ** 0.5]], atol=1e-6)


def test_aqe_with_zero_rounds_only_normalises():
    q = np.array([[3.0, 4.0]], np.float32)
    new_q, _ = aqe(q, q.copy(), qe_times=0)
    np.testing.assert_allclose(new_q, [[0.6, 0.8]], atol=1e-7)


def test_roc_hand_checked_single_query():
    # positives (other camera): 0.1, 0.5; removed same camera: 0.05; negatives: 0.2, 0.3, 0.6, 0.7
    dist = np.array([[0.1, 0.5, 0.05, 0.2, 0.3, 0.6, 0.7]])
    g_pids = np.array([1, 1, 1, 2, 3, 4, 5])
    g_cams = np.array([1, 1, 0, 1, 1, 1, 1])
    roc = evaluate_roc(dist, np.array([1]), g_pids, np.array([0]), g_cams, fprs=(0.0, 0.25, 0.5, 1.0))
    assert list(roc.values()) == pytest.approx([0.5, 0.5, 1.0, 1.0])


def _brute_force_roc(dist, q_pids, g_pids, q_cams, g_cams, fpr):
    same = q_pids[:, None] == g_pids[None]
    kept = ~(same & (q_cams[:, None] == g_cams[None]))
    pos, neg = dist[kept & same], np.sort(dist[kept & ~same])
    k = int(np.floor(fpr * len(neg)))
    return 1.0 if k >= len(neg) else float(np.mean(pos < neg[k]))


def test_roc_matches_brute_force_over_many_chunks():
    rng = np.random.default_rng(0)
    q_pids, g_pids = rng.integers(0, 8, 40), rng.integers(0, 8, 90)
    q_cams, g_cams = rng.integers(0, 3, 40), rng.integers(0, 3, 90)
    dist = rng.random((40, 90)) + 0.3 * (q_pids[:, None] != g_pids[None])
    fprs = (1e-3, 0.05, 0.3)
    from fastreid.evaluation import GalleryIndex, roc_from_blocks
    roc = roc_from_blocks(lambda idx: dist[idx], 40, q_pids, q_cams, GalleryIndex(g_pids, g_cams, None), 90,
                          fprs, chunk_rows=3)
    for f in fprs:
        assert roc[f] == pytest.approx(_brute_force_roc(dist, q_pids, g_pids, q_cams, g_cams, f))
