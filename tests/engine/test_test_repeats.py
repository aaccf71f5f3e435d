"""DefaultTrainer.test repeats randomly drawn test protocols (VehicleID) TEST.REPEATS times and averages."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from fastreid.config import get_cfg
from fastreid.engine import DefaultTrainer

torch.set_num_threads(1)


class MeanColour(nn.Module):
    """Feature = mean colour of each image: deterministic and identity-dependent in the fixture."""

    def forward(self, batch):
        return batch["images"].float().mean(dim=(2, 3))


def _vehicleid(root: Path, ids=(10, 11, 12, 13), per_id=5):
    d = root / "vehicleid"
    (d / "image").mkdir(parents=True)
    (d / "train_test_split").mkdir()
    rng = np.random.default_rng(0)
    lines, img = [], 0
    for vid in ids:
        base = rng.integers(0, 256, 3)
        for _ in range(per_id):
            img += 1
            colour = np.clip(base + rng.integers(-60, 60, 3), 0, 255).astype(np.uint8)
            Image.fromarray(np.tile(colour, (16, 8, 1))).save(d / "image" / f"{img:07d}.jpg")
            lines.append(f"{img:07d} {vid}")
    (d / "train_test_split" / "test_list_800.txt").write_text("\n".join(lines))
    (d / "train_test_split" / "train_list.txt").write_text("\n".join(lines[:4]))


@pytest.fixture
def cfg(tmp_path):
    _vehicleid(tmp_path)
    c = get_cfg(plugins=True)
    c.DATASETS.ROOT = str(tmp_path)
    c.DATASETS.TESTS = ("SmallVehicleID",)
    c.DATALOADER.NUM_WORKERS = 0
    c.INPUT.SIZE_TEST = [16, 8]
    c.TEST.IMS_PER_BATCH = 8
    return c


def test_vehicleid_is_evaluated_on_repeats_draws_and_averaged(cfg):
    singles = []
    for r in range(3):
        c = cfg.clone()
        c.TEST.REPEATS = 1
        loader, nq = DefaultTrainer.build_test_loader(c, "SmallVehicleID", repeat=r)
        from fastreid.evaluation import inference_on_dataset

        singles.append(inference_on_dataset(MeanColour(), loader, DefaultTrainer.build_evaluator(c, "x", nq)))
    assert len({round(s["mAP"], 6) for s in singles}) > 1, "the fixture's draws should differ"
    cfg.TEST.REPEATS = 3
    averaged = DefaultTrainer.test(cfg, MeanColour())
    for key in ("Rank-1", "mAP", "mINP"):
        assert averaged[key] == pytest.approx(np.mean([s[key] for s in singles]), abs=1e-6)


def test_a_fixed_protocol_is_evaluated_once_whatever_test_repeats_says(cfg, tmp_path, monkeypatch):
    calls = []
    original = DefaultTrainer.build_test_loader.__func__

    def counting(cls, c, name, **kw):
        calls.append(kw)
        return original(cls, c, name, **kw)

    monkeypatch.setattr(DefaultTrainer, "build_test_loader", classmethod(counting))
    cfg.TEST.REPEATS = 3
    DefaultTrainer.test(cfg, MeanColour())
    assert len(calls) == 3
    calls.clear()
    from fastreid.data.synthetic import SyntheticSpec, generate_synthetic_reid

    generate_synthetic_reid(str(tmp_path / "Market-1501-v15.09.15"),
                            SyntheticSpec(num_train_ids=2, num_test_ids=3, num_cameras=2, images_per_camera=2,
                                          height=32, width=16, num_distractors=0, num_junk=0))
    cfg.DATASETS.TESTS = ("Market1501",)
    DefaultTrainer.test(cfg, MeanColour())
    assert calls == [{}]
