"""Optimizers with per-parameter groups and per-iteration learning-rate schedules."""

from .build import OPTIMIZERS, build_lr_scheduler, build_optimizer, get_param_groups
from .lr_scheduler import EpochLengths, WarmupScheduler

__all__ = ["build_optimizer", "build_lr_scheduler", "get_param_groups", "OPTIMIZERS", "WarmupScheduler", "EpochLengths"]
