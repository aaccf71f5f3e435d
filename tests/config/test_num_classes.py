"""fill_num_classes: the one rule for MODEL.HEADS.NUM_CLASSES 0 (trainer, evaluation, predictor, demo)."""

import pytest
import torch

from fastreid.config import get_cfg
from fastreid.config.num_classes import fill_num_classes, fill_num_classes_from_checkpoint
from fastreid.utils.errors import ConfigValueError


def _cfg(num_classes, frozen=True):
    cfg = get_cfg()
    cfg.MODEL.HEADS.NUM_CLASSES = num_classes
    if frozen:
        cfg.freeze()
    return cfg


def test_a_zero_is_filled_in_on_a_copy_that_stays_frozen():
    cfg = _cfg(0)
    filled = fill_num_classes(cfg, 751, "the training set")
    assert filled.MODEL.HEADS.NUM_CLASSES == 751 and filled.is_frozen()
    assert cfg.MODEL.HEADS.NUM_CLASSES == 0  # the caller's config is untouched
    assert not fill_num_classes(_cfg(0, frozen=False), 3, "x").is_frozen()


def test_a_stated_count_is_kept_and_the_source_is_not_read():
    cfg = _cfg(12)

    def unreadable():
        raise AssertionError("the count is read although the config states one")

    assert fill_num_classes(cfg, unreadable, "checkpoint a.pth") is cfg


@pytest.mark.parametrize("count", [0, -1])
def test_no_usable_count_is_one_line_naming_the_key_and_the_source(count):
    with pytest.raises(ConfigValueError) as e:
        fill_num_classes(_cfg(0), count, "checkpoint bare.pth", hint=", or its config.yaml")
    message = str(e.value)
    assert message == (f"MODEL.HEADS.NUM_CLASSES is 0 and checkpoint bare.pth gives no class count ({count}); "
                       "expected MODEL.HEADS.NUM_CLASSES > 0 in the config, or its config.yaml")
    assert e.value.key == "MODEL.HEADS.NUM_CLASSES"


def test_a_negative_count_in_the_config_is_refused_whatever_the_source_says():
    with pytest.raises(ConfigValueError, match=r"^MODEL.HEADS.NUM_CLASSES: -2; expected a class count > 0, or 0 "):
        fill_num_classes(_cfg(-2), 10, "the training set")


def test_a_checkpoint_gives_the_count_it_records_and_a_bare_state_dict_none(tmp_path):
    recorded, bare = tmp_path / "model_final.pth", tmp_path / "bare.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "num_classes": 40}, recorded)
    torch.save({"w": torch.zeros(1)}, bare)
    assert fill_num_classes_from_checkpoint(_cfg(0), str(recorded)).MODEL.HEADS.NUM_CLASSES == 40
    with pytest.raises(ConfigValueError, match=f"is 0 and checkpoint {bare} gives no class count .*config.yaml"):
        fill_num_classes_from_checkpoint(_cfg(0), str(bare))
