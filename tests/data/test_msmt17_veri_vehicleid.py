"""MSMT17 (V1/V2 list files), VeRi-776 and VehicleID (seeded gallery draw) parsing."""

from pathlib import Path

import pytest

from fastreid.data.datasets import MSMT17, LargeVehicleID, SmallVehicleID, VehicleID, VeRi
from fastreid.data.datasets.bases import DatasetLayoutError


def _make_msmt(fx, root, version="MSMT17_V1"):
    train_dir, test_dir = {"MSMT17_V1": ("train", "test"), "MSMT17_V2": ("mask_train_v2", "mask_test_v2")}[version]
    d = root / version
    lists = {
        "list_train.txt": ["0000/0000_000_01_0303morning_0015_0.jpg 0", "0000/0000_001_05_0303morning_0016_0.jpg 0"],
        "list_val.txt": ["0001/0001_000_15_0303noon_0020_1.jpg 1"],
        "list_query.txt": ["0000/0000_000_03_0303afternoon_0100_0.jpg 0"],
        "list_gallery.txt": ["0000/0000_001_07_0303afternoon_0101_0.jpg 0",
                             "0001/0001_002_03_0303afternoon_0102_0.jpg 1"],
    }
    for name, lines in lists.items():
        folder = d / (train_dir if name in ("list_train.txt", "list_val.txt") else test_dir)
        fx.write_images(folder, [ln.split()[0] for ln in lines])
        (d / name).write_text("\n".join(lines) + "\n")
    return d


@pytest.mark.parametrize("version", ["MSMT17_V1", "MSMT17_V2"])
def test_msmt17_train_plus_val_and_cameras(tmp_path, fx, version):
    _make_msmt(fx, tmp_path, version)
    ds = MSMT17(root=str(tmp_path))
    assert ds.dataset_dir.name == version
    assert len(ds.train) == 3  # train list (2) + val list (1)
    assert sorted(c for _, _, c in ds.train) == ["msmt17_0", "msmt17_14", "msmt17_4"]
    assert {p for _, p, _ in ds.train} == {"msmt17_0", "msmt17_1"}
    assert [(p, c) for _, p, c in ds.query] == [(0, 2)]
    assert sorted((p, c) for _, p, c in ds.gallery) == [(0, 6), (1, 2)]


def test_msmt17_missing_list_file_is_named(tmp_path, fx):
    d = _make_msmt(fx, tmp_path)
    (d / "list_val.txt").unlink()
    with pytest.raises(DatasetLayoutError, match="lacks list_val.txt"):
        MSMT17(root=str(tmp_path))


def test_msmt17_missing_listed_image_is_named(tmp_path, fx):
    d = _make_msmt(fx, tmp_path)
    (d / "test" / "0000" / "0000_000_03_0303afternoon_0100_0.jpg").unlink()
    with pytest.raises(DatasetLayoutError, match="0000_000_03_0303afternoon_0100_0.jpg"):
        MSMT17(root=str(tmp_path))


def test_veri_layout(tmp_path, fx):
    d = tmp_path / "veri"
    fx.write_images(d / "image_train", ["0001_c001_00016450_0.jpg", "0001_c012_00016460_0.jpg"])
    fx.write_images(d / "image_query", ["0002_c002_00030600_0.jpg"])
    fx.write_images(d / "image_test", ["0002_c020_00030700_0.jpg", "0002_c002_00030601_0.jpg"])
    ds = VeRi(root=str(tmp_path))
    assert sorted(c for _, _, c in ds.train) == ["veri_0", "veri_11"]
    assert [(p, c) for _, p, c in ds.query] == [(2, 1)]
    assert sorted((p, c) for _, p, c in ds.gallery) == [(2, 1), (2, 19)]


def _make_vehicleid(fx, root, per_id=5, ids=(10, 11, 12, 13)):
    d = root / "vehicleid"
    img = 0
    test_lines, train_lines = [], []
    for vid in ids:
        for _ in range(per_id):
            img += 1
            test_lines.append(f"{img:07d} {vid}")
    for vid in (1, 2):
        for _ in range(2):
            img += 1
            train_lines.append(f"{img:07d} {vid}")
    fx.write_images(d / "image", [f"{ln.split()[0]}.jpg" for ln in train_lines + test_lines])
    (d / "train_test_split").mkdir()
    (d / "train_test_split" / "train_list.txt").write_text("\n".join(train_lines))
    for n in (800, 1600, 2400, 13164):
        (d / "train_test_split" / f"test_list_{n}.txt").write_text("\n".join(test_lines[: len(ids) * per_id]))
    return d


def test_vehicleid_one_gallery_image_per_id(tmp_path, fx):
    _make_vehicleid(fx, tmp_path)
    ds = SmallVehicleID(root=str(tmp_path))
    assert ds.test_list == 800
    assert sorted(p for _, p, _ in ds.gallery) == [10, 11, 12, 13]
    assert len(ds.query) == 4 * 4
    assert {p for _, p, _ in ds.train} == {"vehicleid_1", "vehicleid_2"}
    assert len({c for _, _, c in ds.query + ds.gallery}) == 20  # camid = image id: all distinct


def test_vehicleid_gallery_draw_is_seeded(tmp_path, fx):
    _make_vehicleid(fx, tmp_path)
    galleries = [sorted(p for p, _, _ in LargeVehicleID(root=str(tmp_path), repeat=r).gallery) for r in range(4)]
    again = sorted(p for p, _, _ in LargeVehicleID(root=str(tmp_path), repeat=0).gallery)
    assert galleries[0] == again
    assert len({tuple(g) for g in galleries}) > 1  # other repeats draw other gallery images
    other_seed = sorted(p for p, _, _ in VehicleID(root=str(tmp_path), test_list=2400, split_seed=5).gallery)
    assert len(other_seed) == 4


def _authors_gallery(list_file, seed):
    """The gallery the MSINet authors' VehicleID loader draws, written from its description: after
    ``random.seed(seed)``, for each vehicle in the order it first appears in the list, ``random.choice`` of
    its image names in list order."""
    import random

    by_vid = {}
    for line in list_file.read_text().splitlines():
        name, vid = line.split()
        by_vid.setdefault(int(vid), []).append(name)
    state = random.getstate()
    random.seed(seed)
    try:
        return sorted(random.choice(names) for names in by_vid.values())
    finally:
        random.setstate(state)


def test_vehicleid_python_draw_gives_the_authors_gallery_for_their_seed(tmp_path, fx):
    d = _make_vehicleid(fx, tmp_path, per_id=7, ids=(10, 11, 12, 13, 14, 15))
    list_file = d / "train_test_split" / "test_list_2400.txt"
    lines = list_file.read_text().splitlines()
    list_file.write_text("\n".join(lines[5::-1] + lines[6:][::3] + lines[6:][1::3] + lines[6:][2::3]))  # mixed order
    for seed in (0, 1, 7):
        got = LargeVehicleID(root=str(tmp_path), gallery_draw="python", split_seed=seed)
        assert sorted(Path(p).stem for p, _, _ in got.gallery) == _authors_gallery(list_file, seed), seed
        assert len(got.query) == 6 * 6
    numpy_draws = [sorted(p for p, _, _ in LargeVehicleID(root=str(tmp_path), split_seed=s).gallery) for s in (0, 1, 7)]
    assert [sorted(Path(p).stem for p in g) for g in numpy_draws] != [_authors_gallery(list_file, s) for s in (0, 1, 7)]
    with pytest.raises(ValueError, match="DATASETS.VEHICLEID.GALLERY_DRAW: 'random' is not a gallery draw; "
                                         "expected one of numpy, python"):
        LargeVehicleID(root=str(tmp_path), gallery_draw="random")


def test_vehicleid_draw_and_seed_come_from_the_config(tmp_path, fx):
    from fastreid.config import get_cfg
    from fastreid.data import build_dataset

    _make_vehicleid(fx, tmp_path)
    cfg = get_cfg()
    cfg.merge_from_list(["DATASETS.ROOT", str(tmp_path), "DATASETS.VEHICLEID.GALLERY_DRAW", "python",
                         "DATASETS.VEHICLEID.SPLIT_SEED", "3"])
    ds = build_dataset(cfg, "LargeVehicleID", verbose=False)
    assert (ds.gallery_draw, ds.split_seed) == ("python", 3)
    assert ds.gallery == LargeVehicleID(root=str(tmp_path), gallery_draw="python", split_seed=3).gallery


def test_vehicleid_rejects_unknown_test_list(tmp_path, fx):
    _make_vehicleid(fx, tmp_path)
    with pytest.raises(ValueError, match="test_list 999"):
        VehicleID(root=str(tmp_path), test_list=999)
