"""Shared fixtures of the layer tests: one torch thread (the machines are shared), a fixed seed."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _few_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(previous)
