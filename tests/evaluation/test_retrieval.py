"""search_gallery: the exact cosine top-k of each query (faiss and numpy), checked against a full sort."""

import numpy as np
import pytest

from fastreid.evaluation.retrieval import Neighbours, search_gallery


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    gallery = _unit(rng.normal(size=(50, 16)))
    query = _unit(gallery[[3, 7, 31]] + 0.01 * rng.normal(size=(3, 16)))
    return query, gallery


@pytest.mark.parametrize("use_faiss", [True, False])
def test_the_top_k_are_the_k_nearest_of_a_full_sort_nearest_first(data, use_faiss):
    query, gallery = data
    full = 1.0 - query.astype(np.float64) @ gallery.T.astype(np.float64)
    order = np.argsort(full, axis=1, kind="stable")[:, :5]
    found = search_gallery(query, gallery, 5, use_faiss=use_faiss)
    assert isinstance(found, Neighbours) and found.indices.dtype == np.int64 and found.distances.dtype == np.float32
    assert np.array_equal(found.indices, order) and list(found.indices[:, 0]) == [3, 7, 31]
    np.testing.assert_allclose(found.distances, np.take_along_axis(full, order, axis=1), atol=1e-5)
    assert (np.diff(found.distances, axis=1) >= 0).all()


def test_k_is_clipped_to_the_gallery_and_an_empty_request_is_refused(data):
    query, gallery = data
    found = search_gallery(query, gallery[:3], 10, use_faiss=False)
    assert found.indices.shape == found.distances.shape == (3, 3)
    assert sorted(found.indices[0]) == [0, 1, 2]  # every gallery image, ranked
    with pytest.raises(ValueError, match="k = 0 over a gallery of 50"):
        search_gallery(query, gallery, 0)
    with pytest.raises(ValueError, match="a gallery of at least one image"):
        search_gallery(query, gallery[:0], 5)
