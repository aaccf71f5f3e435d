"""Features files: what save_features writes, load_features gives back by name (FeaturesFile)."""

import numpy as np
import pytest

from fastreid.evaluation.feature_files import FeaturesFile, load_features, save_features
from fastreid.utils.errors import ToolError


def test_a_dataset_file_gives_back_every_array_by_name(tmp_path):
    feats = np.eye(3, 4, dtype=np.float32)
    path = str(tmp_path / "set.npz")
    save_features(path, ["q.png", "g1.png", "g2.png"], feats, (64, 32), pids=[1, 1, 2], camids=[0, 1, 1], num_query=1)
    got = load_features(path, require=("pids", "camids", "num_query"))
    assert isinstance(got, FeaturesFile)
    assert got.paths == ["q.png", "g1.png", "g2.png"] and got.size_hw == (64, 32) and got.num_query == 1
    assert np.array_equal(got.features, feats) and got.features.dtype == np.float32
    assert list(got.pids) == [1, 1, 2] and list(got.camids) == [0, 1, 1]


def test_a_folder_file_has_no_identities_and_asking_for_them_names_the_way(tmp_path):
    path = str(tmp_path / "folder.npz")
    save_features(path, ["a.png"], np.ones((1, 4)), (64, 32))
    got = load_features(path)
    assert (got.pids, got.camids, got.num_query) == (None, None, None)
    with pytest.raises(ToolError, match="no 'pids' array .*--dataset NAME"):
        load_features(path, require=("pids",))
