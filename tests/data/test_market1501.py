"""Market-1501 / DukeMTMC-reID parsing in their published layouts."""

import pytest

from fastreid.data.datasets import DukeMTMC, Market1501
from fastreid.data.datasets.bases import DatasetLayoutError


def test_market1501_counts_labels_and_cameras(tmp_path, fx):
    fx.make_market(tmp_path)
    ds = Market1501(root=str(tmp_path))
    assert len(ds.train) == 5 and len(ds.query) == 2 and len(ds.gallery) == 4
    assert {p for _, p, _ in ds.train} == {"market1501_2", "market1501_7"}
    assert sorted(c for _, _, c in ds.train) == sorted(["market1501_0", "market1501_1", "market1501_2",
                                                        "market1501_0", "market1501_5"])
    assert sorted((p, c) for _, p, c in ds.query) == [(10, 0), (11, 1)]


def test_market1501_drops_junk_and_keeps_distractors(tmp_path, fx):
    fx.make_market(tmp_path)
    ds = Market1501(root=str(tmp_path))
    gallery_pids = sorted(p for _, p, _ in ds.gallery)
    assert gallery_pids == [0, 10, 10, 11]
    assert all(p != -1 for _, p, _ in ds.query + ds.gallery)


def test_market1501_accepts_lowercase_folder(tmp_path, fx):
    fx.make_market(tmp_path, folder="market1501")
    assert len(Market1501(root=str(tmp_path)).train) == 5


def test_market1501_combineall_adds_test_ids_without_junk(tmp_path, fx):
    fx.make_market(tmp_path)
    ds = Market1501(root=str(tmp_path), combineall=True)
    pids = {p for _, p, _ in ds.train}
    assert pids == {"market1501_2", "market1501_7", "market1501_test_10", "market1501_test_11"}
    assert len(ds.train) == 5 + 2 + 3


def test_missing_root_error_names_dataset_path_layout_and_key(tmp_path, fx):
    with pytest.raises(DatasetLayoutError) as e:
        Market1501(root=str(tmp_path / "nowhere"))
    msg = str(e.value)
    assert "\n" not in msg
    for part in ("Market1501", str(tmp_path / "nowhere"), "bounding_box_train", "FASTREID_DATASETS",
                 "DATASETS.ROOT"):
        assert part in msg


def test_missing_subfolder_is_named(tmp_path, fx):
    d = fx.make_market(tmp_path)
    for f in (d / "query").iterdir():
        f.unlink()
    (d / "query").rmdir()
    with pytest.raises(DatasetLayoutError, match="lacks query"):
        Market1501(root=str(tmp_path))


def test_bad_file_names_are_listed(tmp_path, fx):
    d = fx.make_market(tmp_path)
    fx.write_images(d / "bounding_box_train", ["holiday.jpg", "0002_x1.jpg"])
    with pytest.raises(DatasetLayoutError) as e:
        Market1501(root=str(tmp_path))
    assert "2 file name(s)" in str(e.value) and "holiday.jpg" in str(e.value) and "0002_x1.jpg" in str(e.value)


def test_dukemtmc_layout_and_eight_cameras(tmp_path, fx):
    d = tmp_path / "DukeMTMC-reID"
    fx.write_images(d / "bounding_box_train", ["0005_c2_f0046985.jpg", "0005_c8_f0046999.jpg"])
    fx.write_images(d / "query", ["0006_c1_f0000001.jpg"])
    fx.write_images(d / "bounding_box_test", ["0006_c7_f0000002.jpg", "0009_c3_f0000003.jpg"])
    ds = DukeMTMC(root=str(tmp_path))
    assert sorted(c for _, _, c in ds.train) == ["dukemtmc_1", "dukemtmc_7"]
    assert [(p, c) for _, p, c in ds.query] == [(6, 0)]
    assert sorted((p, c) for _, p, c in ds.gallery) == [(6, 6), (9, 2)]
