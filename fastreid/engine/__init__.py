"""Training engine: the hook-driven loop (``train_loop``), default hooks (``hooks``), ``DefaultTrainer``
(``trainer``; its test sets in ``testing``, its resume checks in ``resume``), the run folder
(``run_dir``), the command line (``cli``), entry-point set-up (``defaults``) and DDP launch (``launch``).
"""

from .cli import default_argument_parser
from .defaults import default_setup, train_or_evaluate
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
from .run_dir import start_run
from .train_loop import AMPTrainer, HookBase, SimpleTrainer, TrainerBase
from .trainer import DefaultTrainer

__all__ = [
    "HookBase", "TrainerBase", "SimpleTrainer", "AMPTrainer", "DefaultTrainer", "default_argument_parser",
    "default_setup", "start_run", "train_or_evaluate", "launch", "CallbackHook", "IterationTimer", "LRScheduler", "PreciseBN", "LayerFreeze",
    "EvalHook", "PeriodicCheckpointer", "BestCheckpointer", "PeriodicWriter",
]
