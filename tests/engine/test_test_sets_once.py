"""A training run reads (and prints) each test set once, however often it evaluates."""

import torch

from fastreid.config import get_cfg
from fastreid.data.synthetic import SyntheticSpec, generate_synthetic_reid
from fastreid.engine import DefaultTrainer

torch.set_num_threads(1)


def _cfg(tmp_path):
    spec = SyntheticSpec(num_train_ids=4, num_test_ids=3, num_cameras=2, images_per_camera=2, height=64, width=32,
                         num_distractors=0, num_junk=0, seed=0)
    generate_synthetic_reid(str(tmp_path / "Market-1501-v15.09.15"), spec)
    cfg = get_cfg(plugins=True)
    cfg.merge_from_list(["DATASETS.ROOT", str(tmp_path), "MODEL.BACKBONE.NAME", "osnet", "MODEL.DEVICE", "cpu",
                         "INPUT.SIZE_TRAIN", "[64, 32]", "INPUT.SIZE_TEST", "[64, 32]", "SOLVER.IMS_PER_BATCH", "8",
                         "DATALOADER.NUM_INSTANCE", "2", "DATALOADER.NUM_WORKERS", "0", "SOLVER.MAX_EPOCH", "3",
                         "SOLVER.ITERS_PER_EPOCH", "1", "SOLVER.WARMUP_ITERS", "0", "TEST.EVAL_PERIOD", "1",
                         "OUTPUT_DIR", str(tmp_path / "run")])
    return cfg


class CountingTrainer(DefaultTrainer):
    builds, evaluations = [], []

    @classmethod
    def build_test_loader(cls, cfg, dataset_name, **kw):
        cls.builds.append(dataset_name)
        return super().build_test_loader(cfg, dataset_name, **kw)

    @classmethod
    def test(cls, cfg, model, loaders=None):
        cls.evaluations.append(len(cls.builds))
        return super().test(cfg, model, loaders=loaders)


class OldStyleTrainer(CountingTrainer):
    """An override written against fast-reid's ``test(cls, cfg, model)`` still runs (and rebuilds)."""

    @classmethod
    def test(cls, cfg, model):
        return super().test(cfg, model)


def test_three_evaluations_build_the_test_set_once(tmp_path):
    CountingTrainer.builds, CountingTrainer.evaluations = [], []
    results = CountingTrainer(_cfg(tmp_path)).train()
    assert len(CountingTrainer.evaluations) == 3
    assert CountingTrainer.builds == ["Market1501"]  # the pre-flight check's build, reused by every evaluation
    assert 0.0 <= results["mAP"] <= 100.0


def test_an_old_style_test_override_is_still_called(tmp_path):
    CountingTrainer.builds, CountingTrainer.evaluations = [], []
    OldStyleTrainer(_cfg(tmp_path)).train()
    assert len(CountingTrainer.evaluations) == 3
    assert len(CountingTrainer.builds) == 4  # the check, then one per evaluation: nothing to keep them in
