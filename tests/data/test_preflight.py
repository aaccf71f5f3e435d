"""Test sets are checked before the first iteration: a broken query image stops the run at its start."""

import io

import pytest
from PIL import Image

from fastreid.data.data_utils import CorruptImageError, check_image_file


def _image_bytes(fmt):
    buf = io.BytesIO()
    Image.new("RGB", (32, 64), (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt, suffix", [("JPEG", "jpg"), ("PNG", "png")])
def test_intact_images_pass_and_truncated_or_empty_ones_fail(tmp_path, fmt, suffix):
    data = _image_bytes(fmt)
    good = tmp_path / f"good.{suffix}"
    good.write_bytes(data)
    check_image_file(str(good))
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CorruptImageError, match=f"cannot read image .*cut.{suffix}"):
        check_image_file(str(cut))
    empty = tmp_path / f"empty.{suffix}"
    empty.write_bytes(b"")
    with pytest.raises(CorruptImageError, match="empty"):
        check_image_file(str(empty))


@pytest.mark.slow
def test_a_truncated_query_image_stops_the_trainer_before_training(tmp_path):
    from fastreid.config import get_cfg
    from fastreid.data.synthetic import SyntheticSpec, generate_synthetic_reid
    from fastreid.engine import DefaultTrainer

    market = tmp_path / "Market-1501-v15.09.15"
    spec = SyntheticSpec(num_train_ids=4, num_test_ids=3, num_cameras=2, images_per_camera=2, height=64, width=32,
                         num_distractors=0, num_junk=0, seed=0)
    generate_synthetic_reid(str(market), spec)
    victim = sorted((market / "query").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:200])
    cfg = get_cfg(plugins=True)
    cfg.merge_from_list(["DATASETS.ROOT", str(tmp_path), "MODEL.BACKBONE.NAME", "osnet", "MODEL.DEVICE", "cpu",
                         "INPUT.SIZE_TRAIN", "[64, 32]", "INPUT.SIZE_TEST", "[64, 32]", "SOLVER.IMS_PER_BATCH", "8",
                         "DATALOADER.NUM_INSTANCE", "2", "DATALOADER.NUM_WORKERS", "0",
                         "OUTPUT_DIR", str(tmp_path / "run")])
    with pytest.raises(CorruptImageError, match=victim.name):
        DefaultTrainer(cfg)
    assert not (tmp_path / "run" / "last_checkpoint").exists()
