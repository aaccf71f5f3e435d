"""Shared fixtures for the modeling tests: few torch threads, a CPU config with a tiny class count."""

import pytest
import torch

from fastreid.config import get_cfg


@pytest.fixture(autouse=True)
def _few_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def cfg():
    c = get_cfg(plugins=True)
    c.MODEL.DEVICE = "cpu"
    c.MODEL.HEADS.NUM_CLASSES = 4
    c.MODEL.LOSSES.NAME = ("CrossEntropyLoss", "TripletLoss")
    return c


@pytest.fixture
def batch():
    """8 images of 64 x 32 pixels, 0..255, identities 0,0,1,1,2,2,3,3."""
    g = torch.Generator().manual_seed(0)
    return {"images": torch.rand(8, 3, 64, 32, generator=g) * 255, "targets": torch.arange(4).repeat_interleave(2)}
