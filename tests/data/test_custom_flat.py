"""CustomReID on an unlabelled folder (images directly in DIR or DIR/train): identity None, camera from
the regex, no test set (or a labelled one beside train/); a supervised loader refuses it with one line;
empty and half-split folders are named."""

import pytest

from fastreid.data import build_dataset, build_reid_train_loader
from fastreid.data.datasets import CustomReID
from fastreid.data.datasets.bases import DatasetLayoutError
from fastreid.utils.errors import ConfigValueError

NAMES = ["0001_c1_a.jpg", "0001_c2_b.jpg", "0002_c1_c.png", "0003_c3_d.jpg"]


def test_a_flat_folder_is_an_unlabelled_training_set(tmp_path, fx):
    fx.write_images(tmp_path / "flat", NAMES)
    (tmp_path / "flat" / "notes.txt").write_text("not an image")
    (tmp_path / "flat" / "empty_sub").mkdir()  # a sub-folder without images does not make identities
    ds = CustomReID(root=str(tmp_path), data_dir="flat")
    assert [p.rsplit("/", 1)[-1] for p, _, _ in ds.train] == NAMES
    assert {pid for _, pid, _ in ds.train} == {None}
    assert [cam for _, _, cam in ds.train] == ["custom_1", "custom_2", "custom_1", "custom_3"]
    assert ds.query == [] and ds.gallery == []
    assert ds._stats(ds.train) == (0, 4, 3)  # no identity is counted for the unknown ones


def test_unknown_cameras_give_camera_0_and_train_subfolder_works(tmp_path, fx):
    fx.write_images(tmp_path / "mine" / "train", ["x.jpg", "y.jpg", "z.jpg"])
    ds = CustomReID(root=str(tmp_path), data_dir="mine", camera_regex="")
    assert len(ds.train) == 3 and {(pid, cam) for _, pid, cam in ds.train} == {(None, "custom_0")}
    assert ds.query == [] and ds.gallery == []


def test_flat_train_beside_labelled_query_and_gallery(tmp_path, fx):
    base = tmp_path / "mixed"
    fx.write_images(base / "train", ["a_c1.jpg", "b_c2.jpg"])
    fx.write_images(base / "query" / "7", ["q_c1.jpg"])
    fx.write_images(base / "gallery" / "7", ["g_c2.jpg", "h_c3.jpg"])
    ds = CustomReID(root=str(tmp_path), data_dir=str(base))
    assert {pid for _, pid, _ in ds.train} == {None} and len(ds.train) == 2
    assert [(p, c) for _, p, c in ds.query] == [(7, 1)]
    assert sorted((p, c) for _, p, c in ds.gallery) == [(7, 2), (7, 3)]
    (base / "gallery" / "7" / "g_c2.jpg").unlink()
    (base / "gallery" / "7" / "h_c3.jpg").unlink()
    (base / "gallery" / "7").rmdir()
    (base / "gallery").rmdir()
    with pytest.raises(DatasetLayoutError, match="holds query/ but not gallery/"):
        CustomReID(root=str(tmp_path), data_dir=str(base))


def test_identity_folders_still_win_over_loose_files(tmp_path, fx):
    fx.write_images(tmp_path / "ids" / "5", ["p_c1.jpg", "q_c2.jpg"])
    fx.write_images(tmp_path / "ids" / "6", ["r_c1.jpg", "s_c2.jpg"])
    fx.write_images(tmp_path / "ids", ["loose_c1.jpg"])
    ds = CustomReID(root=str(tmp_path), data_dir="ids", test_ratio=0.5)
    assert None not in {pid for _, pid, _ in ds.train + ds.query + ds.gallery}


def test_empty_folder_and_camera_offenders_are_one_line_naming_them(tmp_path, fx):
    (tmp_path / "nothing" / "sub").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError) as e:
        CustomReID(root=str(tmp_path), data_dir="nothing")
    msg = str(e.value)
    assert "\n" not in msg and f"no images found under {tmp_path / 'nothing'}" in msg
    assert "images directly in <DIR>" in msg
    fx.write_images(tmp_path / "flatbad", ["0001_c1_a.jpg", "nocamera.jpg"])
    with pytest.raises(DatasetLayoutError, match="1 file name.*nocamera.jpg"):
        CustomReID(root=str(tmp_path), data_dir="flatbad")


def test_supervised_loader_refuses_unlabelled_images_with_one_line(tmp_path, fx, cfg):
    fx.write_images(tmp_path / "flat", NAMES)
    cfg.DATASETS.NAMES = ("CustomReID",)
    cfg.DATASETS.CUSTOM.DIR = "flat"
    assert {pid for _, pid, _ in build_dataset(cfg, "CustomReID", verbose=False).train} == {None}
    with pytest.raises(ConfigValueError) as e:
        build_reid_train_loader(cfg)
    msg = str(e.value)
    assert "\n" not in msg and "4 of 4 training images have no identity label" in msg
    assert "projects/UnsupReID trains without them" in msg
