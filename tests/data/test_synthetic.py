"""The generated (synthetic) dataset: determinism, Market-1501 layout, auto-generation."""

import hashlib

import numpy as np
import pytest
from PIL import Image

from fastreid.data import build_reid_train_loader
from fastreid.data.datasets import Market1501, SyntheticReID
from fastreid.data.synthetic import SyntheticSpec, generate_synthetic_reid

TINY = SyntheticSpec(num_train_ids=4, num_test_ids=3, num_cameras=3, images_per_camera=2, height=64, width=32,
                     num_distractors=2, num_junk=2, seed=7)


def _digest(folder):
    h = hashlib.sha1()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_generator_is_deterministic_per_seed(tmp_path):
    a = generate_synthetic_reid(str(tmp_path / "a"), TINY)
    b = generate_synthetic_reid(str(tmp_path / "b"), TINY)
    c = generate_synthetic_reid(str(tmp_path / "c"), SyntheticSpec(**{**TINY.__dict__, "seed": 8}))
    assert _digest(a) == _digest(b) != _digest(c)


def test_market1501_parser_reads_generated_data(tmp_path):
    d = generate_synthetic_reid(str(tmp_path / "gen"), TINY)
    ds = Market1501(root=str(d))
    assert len({p for _, p, _ in ds.train}) == 4
    assert {p for _, p, _ in ds.query} == {5, 6, 7}
    assert 0 in {p for _, p, _ in ds.gallery}  # distractors kept, junk (-1) dropped
    assert len(ds.gallery) == len(ds.query) + 2  # one query per (id, camera), one more gallery image each
    assert {c for _, _, c in ds.query + ds.gallery} <= {0, 1, 2}
    assert {c for _, _, c in ds.train} <= {"market1501_0", "market1501_1", "market1501_2"}
    assert len(list((d / "bounding_box_test").glob("-1_*.jpg"))) == 2
    with Image.open(ds.query[0][0]) as im:
        assert im.size == (32, 64) and im.mode == "RGB"


def test_identities_differ_more_than_views_of_one_identity(tmp_path):
    d = generate_synthetic_reid(str(tmp_path / "gen"), SyntheticSpec(**{**TINY.__dict__, "num_train_ids": 8}))
    ds = Market1501(root=str(d), verbose=False)
    feats, pids = [], []
    for path, pid, _ in ds.train:  # a crude colour descriptor: mean colour of the central body region
        arr = np.asarray(Image.open(path), dtype=np.float64)[20:50, 10:22]
        feats.append(arr.reshape(-1, 3).mean(0))
        pids.append(pid)
    f, p = np.array(feats), np.array(pids)
    dist = np.linalg.norm(f[:, None] - f[None], axis=2)
    same = p[:, None] == p[None]
    off_diag = ~np.eye(len(p), dtype=bool)
    assert dist[same & off_diag].mean() < dist[~same].mean()


def test_synthetic_dataset_generates_on_first_use_and_says_synthetic(tmp_path, caplog):
    with caplog.at_level("INFO"):
        ds = SyntheticReID(root=str(tmp_path), **TINY.__dict__)
    assert ds.dataset_dir.parent == tmp_path and ds.dataset_dir.name.startswith("SyntheticReID-")
    assert (ds.dataset_dir / "synthetic.json").is_file()
    assert "SyntheticReID (synthetic, generated data)" in caplog.text and "| train" in caplog.text
    assert len({p for _, p, _ in ds.train}) == 4 and all(p.startswith("synthetic_") for _, p, _ in ds.train)
    again = SyntheticReID(root=str(tmp_path), **TINY.__dict__, verbose=False)  # reuses the folder
    assert again.train == ds.train


def test_spec_rejects_too_many_cameras():
    with pytest.raises(ValueError, match="num_cameras 7"):
        SyntheticSpec(num_cameras=7).check()


@pytest.mark.slow
def test_default_synthetic_dataset_trains_through_the_loader(tmp_path, cfg):
    cfg.DATASETS.NAMES = ("SyntheticReID",)
    cfg.SOLVER.IMS_PER_BATCH = 16
    loader = build_reid_train_loader(cfg)
    assert loader.dataset.num_classes == 60
    batch = next(iter(loader))
    assert batch["images"].shape == (16, 3, 32, 16)


def test_a_killed_generations_temp_folder_is_removed_and_a_live_ones_kept(tmp_path):
    """Issue 24 item 13: a generation killed before its rename leaves ``<name>.tmp-<pid>``; the next one
    removes it when that process no longer runs (and leaves a running generation's alone)."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for pid in (int(dead.stdout), live.pid):
            (tmp_path / f"Synth.tmp-{pid}" / "query").mkdir(parents=True)
        generate_synthetic_reid(str(tmp_path / "Synth"), TINY)
        left = sorted(p.name for p in tmp_path.iterdir())
    finally:
        live.kill()
        live.wait()
    assert left == ["Synth", f"Synth.tmp-{live.pid}"]
