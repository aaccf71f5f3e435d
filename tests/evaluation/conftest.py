"""Reference algorithms for the evaluation tests (written for clarity, not speed)."""

import numpy as np
import pytest


def reference_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50, junk_pid=-1):
    """Classic per-query evaluation: stable argsort of each row, drop same pid + same camera (and junk)."""
    num_q, num_g = distmat.shape
    max_rank = min(max_rank, num_g)
    cmcs, aps, inps = [], [], []
    for i in range(num_q):
        order = np.argsort(distmat[i], kind="stable")
        removed = (g_pids[order] == q_pids[i]) & (g_camids[order] == q_camids[i])
        if junk_pid is not None:
            removed |= g_pids[order] == junk_pid
        matches = (g_pids[order] == q_pids[i])[~removed].astype(np.int64)
        if not matches.any():
            continue
        cmc = np.minimum(matches.cumsum(), 1)
        cmc = np.concatenate([cmc, np.ones(max_rank)])[:max_rank]  # a found match stays found
        cmcs.append(cmc)
        hits = np.flatnonzero(matches)
        aps.append(np.mean(np.arange(1, len(hits) + 1) / (hits + 1.0)))
        inps.append(len(hits) / (hits[-1] + 1.0))
    if not cmcs:
        raise ValueError("no valid query")
    return np.mean(cmcs, axis=0), np.array(aps), np.array(inps)


@pytest.fixture
def rank_reference():
    return reference_rank
