"""Training engine: the hook-driven loop, default hooks, DefaultTrainer, CLI helpers and DDP launch."""

from .defaults import DefaultTrainer, default_argument_parser, default_setup, start_run, train_or_evaluate
from .hooks import (
    BestCheckpointer,
    CallbackHook,
    EvalHook,
    IterationTimer,
    LayerFreeze,
    LRScheduler,
    PeriodicCheckpointer,
    PeriodicWriter,
    PreciseBN,
)
from .launch import launch
from .train_loop import AMPTrainer, HookBase, SimpleTrainer, TrainerBase

__all__ = [
    "HookBase", "TrainerBase", "SimpleTrainer", "AMPTrainer", "DefaultTrainer", "default_argument_parser",
    "default_setup", "start_run", "train_or_evaluate", "launch", "CallbackHook", "IterationTimer", "LRScheduler", "PreciseBN", "LayerFreeze",
    "EvalHook", "PeriodicCheckpointer", "BestCheckpointer", "PeriodicWriter",
]
