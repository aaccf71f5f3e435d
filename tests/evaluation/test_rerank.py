import numpy as np
import pytest

from fastreid.evaluation import ReRanker, l2_normalize


def dense_rerank(q, g, k1, k2, lam):
    """Zhong et al. 2017 k-reciprocal re-ranking, dense, on cosine distances (softmax weights)."""
    feats = np.concatenate([q, g]).astype(np.float64)
    num_q, n = len(q), len(q) + len(g)
    dist = 1.0 - feats @ feats.T
    rank = np.argsort(dist, axis=1, kind="stable")
    half = int(np.around(k1 / 2.0))

    def reciprocal(i, k):
        forward = rank[i, :k + 1]
        return forward[[i in rank[j, :k + 1] for j in forward]]

    v = np.zeros((n, n))
    for i in range(n):
        base = reciprocal(i, k1)
        expansion = list(base)
        for j in base:
            cand = reciprocal(j, half)
            if len(np.intersect1d(cand, base)) > 2.0 / 3.0 * len(cand):
                expansion.extend(cand)
        expansion = np.unique(expansion)
        w = np.exp(-dist[i, expansion])
        v[i, expansion] = w / w.sum()
    if k2 > 1:
        v = np.stack([v[rank[i, :k2]].mean(axis=0) for i in range(n)])
    jaccard = np.zeros((num_q, n - num_q))
    for i in range(num_q):
        for j in range(n - num_q):
            common = np.minimum(v[i], v[num_q + j]).sum()
            jaccard[i, j] = 1.0 - common / (2.0 - common)
    return (1 - lam) * jaccard + lam * dist[:num_q, num_q:]


@pytest.mark.parametrize("use_faiss", [False, True])
@pytest.mark.parametrize("k1,k2", [(6, 3), (4, 1)])
def test_sparse_rerank_equals_dense_reference(use_faiss, k1, k2):
    if use_faiss:
        pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((5, 8))
    ids = rng.integers(0, 5, 40)
    feats = l2_normalize((centres[ids] + 0.7 * rng.standard_normal((40, 8))).astype(np.float32))
    q, g = feats[:10], feats[10:]
    ranker = ReRanker(q, g, "cosine", k1=k1, k2=k2, lambda_value=0.3, use_faiss=use_faiss)
    ours = np.concatenate([ranker.rows(np.arange(0, 4)), ranker.rows(np.arange(4, 10))])
    np.testing.assert_allclose(ours, dense_rerank(q, g, k1, k2, 0.3), atol=2e-5)


def test_rerank_rejects_bad_lambda():
    x = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="LAMBDA"):
        ReRanker(x, x, k1=2, k2=1, lambda_value=1.5)
