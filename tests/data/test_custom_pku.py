"""CustomReID (folders and CSV/TSV lists, given or seeded split) and the PKU-Reid subset protocol."""

import pytest

from fastreid.data import build_dataset
from fastreid.data.datasets import CustomReID, PKUReIDSubset
from fastreid.data.datasets.bases import DatasetLayoutError


def _folder_tree(fx, base, ids=("alice", "bob", "carol", "dave"), cams=(1, 2), per_cam=2):
    for pid in ids:
        fx.write_images(base / pid, [f"{pid}_c{c}_{k}.jpg" for c in cams for k in range(per_cam)])


def test_custom_folders_split_by_identity_with_seed(tmp_path, fx):
    _folder_tree(fx, tmp_path / "mine")
    a = CustomReID(root=str(tmp_path), data_dir="mine", test_ratio=0.5, split_seed=3)
    b = CustomReID(root=str(tmp_path), data_dir="mine", test_ratio=0.5, split_seed=3)
    assert a.train == b.train and a.query == b.query and a.gallery == b.gallery
    assert len({p for _, p, _ in a.train}) == 2
    test_ids = {p for _, p, _ in a.query}
    assert len(test_ids) == 2 and test_ids == {p for _, p, _ in a.gallery}
    assert len(a.query) == 2 and len(a.gallery) == 2 * 4 - 2  # one query per test identity
    # names map to integers in sorted order: alice 0, bob 1, carol 2, dave 3; camera from the regex
    assert test_ids <= {0, 1, 2, 3}
    assert {c for _, _, c in a.query + a.gallery} <= {1, 2}
    seeds = {tuple(sorted(p for _, p, _ in CustomReID(root=str(tmp_path), data_dir="mine", split_seed=s,
                                                       verbose=False).query)) for s in range(6)}
    assert len(seeds) > 1


def test_custom_folders_given_split(tmp_path, fx):
    base = tmp_path / "given"
    _folder_tree(fx, base / "train", ids=("1", "2"))
    _folder_tree(fx, base / "query", ids=("3",), cams=(1,), per_cam=1)
    _folder_tree(fx, base / "gallery", ids=("3", "4"), cams=(2,), per_cam=2)
    ds = CustomReID(root=str(tmp_path), data_dir=str(base))
    assert {p for _, p, _ in ds.train} == {"custom_1", "custom_2"} and len(ds.train) == 8
    assert [(p, c) for _, p, c in ds.query] == [(3, 1)]
    assert sorted((p, c) for _, p, c in ds.gallery) == [(3, 2), (3, 2), (4, 2), (4, 2)]


def test_custom_unknown_cameras_give_query_and_gallery_different_camids(tmp_path, fx):
    fx.write_images(tmp_path / "nocam" / "x", ["a.jpg", "b.jpg", "c.jpg"])
    fx.write_images(tmp_path / "nocam" / "y", ["a.jpg", "b.jpg"])
    ds = CustomReID(root=str(tmp_path), data_dir="nocam", camera_regex="", test_ratio=1.0)
    assert {c for _, _, c in ds.query} == {0} and {c for _, _, c in ds.gallery} == {1}
    assert len(ds.query) == 2 and len(ds.gallery) == 3


def test_custom_camera_regex_offenders_are_named(tmp_path, fx):
    fx.write_images(tmp_path / "bad" / "p1", ["p1_c1_0.jpg", "nocamera.jpg"])
    with pytest.raises(DatasetLayoutError, match="nocamera.jpg"):
        CustomReID(root=str(tmp_path), data_dir="bad")


def test_custom_csv_with_split_column_and_header(tmp_path, fx):
    base = tmp_path / "csvdata"
    fx.write_images(base / "img", [f"{i}.png" for i in range(6)])
    (base / "labels.csv").write_text("path,pid,camid,split\n"
                                     "img/0.png,7,0,train\nimg/1.png,7,1,train\nimg/2.png,8,0,train\n"
                                     "img/3.png,9,0,query\nimg/4.png,9,1,gallery\nimg/5.png,10,1,gallery\n")
    ds = CustomReID(root=str(tmp_path), data_dir="csvdata", list_file="labels.csv")
    assert sorted(p for _, p, _ in ds.train) == ["custom_7", "custom_7", "custom_8"]
    assert [(p, c) for _, p, c in ds.query] == [(9, 0)]
    assert sorted((p, c) for _, p, c in ds.gallery) == [(9, 1), (10, 1)]
    assert ds.query[0][0] == str(base / "img" / "3.png")


def test_a_headerless_list_whose_first_camera_is_text_is_reported_not_dropped(tmp_path, fx):
    from fastreid.data.datasets.bases import DatasetLayoutError

    base = tmp_path / "csvdata"
    fx.write_images(base, [f"{i}.png" for i in range(4)])
    (base / "labels.csv").write_text("0.png,7,c1\n1.png,7,1\n2.png,8,0\n3.png,8,1\n")
    with pytest.raises(DatasetLayoutError, match=r"1 malformed row.*line 1: '0.png,7,c1'"):
        CustomReID(root=str(tmp_path), data_dir="csvdata", list_file="labels.csv")


def test_custom_tsv_without_split_uses_seeded_identity_split(tmp_path, fx):
    base = tmp_path / "tsv"
    fx.write_images(base, [f"{i}.jpg" for i in range(8)])
    (base / "list.tsv").write_text("".join(f"{i}.jpg\tid{i // 2}\t{i % 2}\n" for i in range(8)))
    ds = CustomReID(root=str(tmp_path), data_dir="tsv", list_file="list.tsv", test_ratio=0.5)
    assert len(ds.train) == 4 and len(ds.query) == 2 and len(ds.gallery) == 2
    for _, pid, cam in ds.query:  # the only gallery image of this identity is from the other camera
        assert [(p, c) for _, p, c in ds.gallery if p == pid] == [(pid, 1 - cam)]


def test_custom_malformed_rows_are_named(tmp_path, fx):
    base = tmp_path / "broken"
    fx.write_images(base, ["0.jpg"])
    (base / "l.csv").write_text("0.jpg,1,0\n0.jpg,1,zero\n0.jpg,1,0,holdout\n")
    with pytest.raises(DatasetLayoutError, match="2 malformed row"):
        CustomReID(root=str(tmp_path), data_dir="broken", list_file="l.csv")


def test_custom_is_configured_by_datasets_custom_keys(tmp_path, fx, cfg):
    _folder_tree(fx, tmp_path / "mine")
    cfg.DATASETS.CUSTOM.DIR = "mine"
    cfg.DATASETS.CUSTOM.TEST_RATIO = 0.25
    ds = build_dataset(cfg, "CustomReID")
    assert len({p for _, p, _ in ds.train}) == 3 and len({p for _, p, _ in ds.query}) == 1


def test_pku_subset_protocol_640_272_272(fx):
    assert (fx.pku_root / "pku-reid-subset" / "images").is_dir(), "shared PKU-Reid subset missing"
    ds = PKUReIDSubset(root=str(fx.pku_root))
    assert (len(ds.train), len(ds.query), len(ds.gallery)) == (640, 272, 272)
    assert len({p for _, p, _ in ds.train}) == 40
    qids, gids = {p for _, p, _ in ds.query}, {p for _, p, _ in ds.gallery}
    assert qids == gids and len(qids) == 34
    assert {c for _, _, c in ds.query} == {0} and {c for _, _, c in ds.gallery} == {1}
    train_ids = sorted(int(p.split("_")[1]) for p in {p for _, p, _ in ds.train})
    assert max(train_ids) < min(qids)  # first 40 identity folders in sorted order
