"""Loader builders: batch format, combined datasets, query-first test loader and input errors."""

import pytest
import torch

from fastreid.data import (
    CorruptImageError,
    EmptyTestSetError,
    build_reid_test_loader,
    build_reid_train_loader,
    dataset_root,
)


def _market_and_duke(fx, root):
    fx.make_market(root)
    d = root / "DukeMTMC-reID"
    fx.write_images(d / "bounding_box_train", [f"{pid:04d}_c{c}_f{pid * 10 + c:07d}.jpg"
                                               for pid in (1, 2, 3) for c in (1, 2)])
    fx.write_images(d / "query", ["0008_c1_f0000001.jpg"])
    fx.write_images(d / "bounding_box_test", ["0008_c2_f0000002.jpg"])


def test_train_loader_batches_and_combined_labels(tmp_path, fx, cfg):
    _market_and_duke(fx, tmp_path)
    cfg.DATASETS.NAMES = ("Market1501", "DukeMTMC")
    cfg.DATALOADER.SAMPLER_TRAIN = "NaiveIdentitySampler"
    cfg.DATALOADER.NUM_INSTANCE = 2
    cfg.SOLVER.IMS_PER_BATCH = 4
    loader = build_reid_train_loader(cfg)
    assert loader.dataset.num_classes == 2 + 3  # prefixed ids never collide (market 2 vs duke 2)
    batch = next(iter(loader))
    assert set(batch) == {"images", "targets", "camids", "img_paths"}
    assert batch["images"].shape == (4, 3, 32, 16) and batch["images"].dtype == torch.float32
    assert batch["targets"].dtype == torch.long and batch["camids"].dtype == torch.long
    assert len(batch["img_paths"]) == 4
    t = batch["targets"].tolist()
    assert t[0] == t[1] and t[2] == t[3] and t[0] != t[2]  # P=2 identities x K=2


def test_train_loader_is_infinite_and_restarts_exactly(tmp_path, fx, cfg):
    fx.make_market(tmp_path)
    cfg.DATALOADER.SAMPLER_TRAIN = "TrainingSampler"
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.INPUT.FLIP.ENABLED = True
    cfg.INPUT.REA.ENABLED = True
    loader = build_reid_train_loader(cfg)
    it = iter(loader)
    first = [next(it) for _ in range(7)]  # 5 images: more batches than one pass
    assert len(first) == 7
    loader.set_epoch(3)
    epoch3_first = next(iter(loader))
    it = iter(loader)
    run = [next(it) for _ in range(4)]
    assert torch.equal(run[0]["images"], epoch3_first["images"])  # a new iter() replays the epoch
    loader.set_epoch(3, start_iter=2)
    resumed = next(iter(loader))
    assert resumed["img_paths"] == run[2]["img_paths"]
    assert torch.equal(resumed["images"], run[2]["images"])  # same augmentation too


def test_test_loader_puts_query_first(tmp_path, fx, cfg):
    fx.make_market(tmp_path)
    loader, num_query = build_reid_test_loader(cfg, "Market1501")
    assert num_query == 2
    batches = list(loader)
    paths = [p for b in batches for p in b["img_paths"]]
    assert len(paths) == 6 and all("/query/" in p for p in paths[:2])
    assert all("bounding_box_test" in p for p in paths[2:])
    assert batches[0]["images"].shape[1:] == (3, 32, 16)


def test_root_from_key_then_env_then_default(monkeypatch, cfg):
    monkeypatch.setenv("FASTREID_DATASETS", "/env/root")
    assert dataset_root(cfg) == cfg.DATASETS.ROOT
    cfg.DATASETS.ROOT = ""
    assert dataset_root(cfg) == "/env/root"
    monkeypatch.delenv("FASTREID_DATASETS")
    assert dataset_root(cfg) == "datasets"


def test_corrupt_image_error_names_file(tmp_path, fx, cfg):
    d = fx.make_market(tmp_path)
    bad = d / "query" / "0010_c1s1_001000_00.jpg"
    bad.write_bytes(b"not a jpeg")
    loader, _ = build_reid_test_loader(cfg, "Market1501")
    with pytest.raises(CorruptImageError, match="0010_c1s1_001000_00.jpg"):
        list(loader)


def test_corrupt_image_skipped_with_warning(tmp_path, fx, cfg, caplog):
    d = fx.make_market(tmp_path)
    (d / "bounding_box_test" / "0010_c2s1_001010_01.jpg").write_bytes(b"\xff\xd8broken")
    cfg.DATASETS.SKIP_CORRUPT = True
    with caplog.at_level("WARNING"):
        loader, num_query = build_reid_test_loader(cfg, "Market1501")
    assert num_query == 2 and len(loader.dataset) == 2 + 3
    assert "0010_c2s1_001010_01.jpg" in caplog.text


def test_empty_query_is_an_error(tmp_path, fx, cfg):
    d = fx.make_market(tmp_path)
    for f in (d / "query").iterdir():
        f.unlink()
    with pytest.raises(EmptyTestSetError, match="query set is empty"):
        build_reid_test_loader(cfg, "Market1501")


def test_query_without_gallery_match_is_an_error(tmp_path, fx, cfg):
    d = fx.make_market(tmp_path)
    for f in (d / "bounding_box_test").iterdir():
        if f.name.startswith(("0010", "0011")):
            f.unlink()
    with pytest.raises(EmptyTestSetError, match="none of the 2 query images"):
        build_reid_test_loader(cfg, "Market1501")


def test_unknown_sampler_name_lists_choices(tmp_path, fx, cfg):
    fx.make_market(tmp_path)
    cfg.DATALOADER.SAMPLER_TRAIN = "PKSampler"
    with pytest.raises(ValueError, match="NaiveIdentitySampler"):
        build_reid_train_loader(cfg)


@pytest.mark.slow
def test_batches_do_not_depend_on_worker_count(tmp_path, fx, cfg):
    fx.make_market(tmp_path)
    cfg.DATALOADER.SAMPLER_TRAIN = "TrainingSampler"
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.INPUT.FLIP.ENABLED = cfg.INPUT.PADDING.ENABLED = cfg.INPUT.REA.ENABLED = True
    cfg.INPUT.PADDING.SIZE = 4
    runs = []
    for workers in (0, 2):
        cfg.DATALOADER.NUM_WORKERS = workers
        loader = build_reid_train_loader(cfg)
        it = iter(loader)
        batches = [next(it) for _ in range(3)]
        loader.set_epoch(1, start_iter=1)  # persistent workers: a new iter() restarts the stream
        batches.append(next(iter(loader)))
        runs.append(batches)
        del it, loader
    for a, b in zip(*runs):
        assert a["img_paths"] == b["img_paths"] and torch.equal(a["images"], b["images"])


def test_loader_workers_are_capped_to_the_usable_cpus(monkeypatch, caplog):
    import logging

    from fastreid.config import get_cfg
    from fastreid.data import build as build_mod

    monkeypatch.setattr(build_mod, "usable_cpus", lambda: 2)
    monkeypatch.setattr(build_mod, "_capped_once", False)
    cfg = get_cfg(plugins=True)
    cfg.DATALOADER.NUM_WORKERS = 8
    with caplog.at_level(logging.INFO, logger="fastreid.data.build"):
        assert build_mod.num_workers(cfg) == 2
        assert build_mod.num_workers(cfg) == 2
    assert caplog.text.count("NUM_WORKERS 8 capped to 2") == 1
    cfg.DATALOADER.NUM_WORKERS = 1
    assert build_mod.num_workers(cfg) == 1
