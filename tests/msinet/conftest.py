"""Shared fixtures of the MSINet tests: few threads, a fresh config with the MSINet keys."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def msinet_cfg():
    """get_cfg(plugins=True) set up for a tiny MSINet model with FBLNeck, CE + triplet (+ nothing else)."""
    from fastreid.config import get_cfg

    cfg = get_cfg(plugins=True)
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.BACKBONE.NAME = "msinet"
    cfg.MODEL.HEADS.NAME = "FBLNeck"
    cfg.MODEL.HEADS.NUM_CLASSES = 4
    cfg.MODEL.LOSSES.NAME = ("CrossEntropyLoss", "TripletLoss")
    cfg.MODEL.LOSSES.TRI.NORM_FEAT = True
    cfg.INPUT.SIZE_TRAIN = [64, 32]
    cfg.INPUT.SIZE_TEST = [64, 32]
    return cfg
