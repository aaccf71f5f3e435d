"""The label-free camera diagnostics of a clustering round: the main-camera share of clusters, and
features with each camera's mean removed (UNSUP.CLUSTER.CAMERA_NORM)."""

import numpy as np
import pytest
import torch

from unsupreid.pseudo_labels import camera_share, subtract_camera_means


def test_camera_share_is_one_when_every_cluster_holds_one_camera():
    cams = ["c1", "c1", "c2", "c2", "c1", "c2"]
    assert camera_share(np.array([0, 0, 1, 1, -1, -1]), cams) == 1.0
    # cluster 0: c1, c1, c2 (2 of 3 from its main camera); cluster 1: c2, c1, c2 (2 of 3); outliers ignored
    mixed = np.array([0, 0, 1, 1, 1, 0])
    assert camera_share(mixed, ["c1", "c1", "c2", "c1", "c2", "c2"]) == pytest.approx(4 / 6)
    assert camera_share(np.array([-1, -1]), ["c1", "c2"]) == 0.0


def test_subtracting_camera_means_removes_what_a_camera_adds_to_all_its_images():
    g = torch.Generator().manual_seed(0)
    people = torch.randn(4, 16, generator=g)
    offset = {"c1": 3 * torch.randn(16, generator=g), "c2": 3 * torch.randn(16, generator=g)}
    cams = ["c1", "c2"] * 4
    feats = torch.stack([people[i // 2] + offset[c] for i, c in enumerate(cams)])
    feats = torch.nn.functional.normalize(feats, dim=1)
    # raw: the nearest other image is one of the same camera (the offset dominates)
    sim = feats @ feats.t() - 2 * torch.eye(8)
    assert all(cams[int(j)] == cams[i] for i, j in enumerate(sim.argmax(dim=1)))
    out = subtract_camera_means(feats, cams)
    assert torch.allclose(out.norm(dim=1), torch.ones(8), atol=1e-6)
    sim = out @ out.t() - 2 * torch.eye(8)
    assert all(int(j) // 2 == i // 2 for i, j in enumerate(sim.argmax(dim=1)))  # now: the same person
