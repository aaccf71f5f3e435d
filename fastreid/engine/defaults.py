"""What an entry point (``train_net.py``) does with a parsed command line: :func:`default_setup` (the run
folder claimed, logging, the environment summary, seeds) and :func:`train_or_evaluate` (train, resume
or ``--eval-only``), as detectron2's ``engine/defaults.py``.

The parts live in their own modules: the flags in :mod:`~fastreid.engine.cli`
(``default_argument_parser``), the run folder and its ``config.yaml`` in :mod:`~fastreid.engine.run_dir`
(``start_run``, ``save_run_config``), the trainer in :mod:`~fastreid.engine.trainer`; they are imported
here too, so the names keep their earlier import path.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, Optional

import torch

from fastreid.config.num_classes import fill_num_classes_from_checkpoint
from fastreid.utils import comm
from fastreid.utils.checkpoint import Checkpointer
from fastreid.utils.env import collect_env_info, derive_seed, seed_all_rng
from fastreid.utils.errors import ConfigValueError
from fastreid.utils.logger import setup_logger

from .cli import default_argument_parser
from .run_dir import claim_run_dir, save_run_config, set_aside_previous_run, start_run
from .trainer import DefaultTrainer

__all__ = ["default_argument_parser", "default_setup", "start_run", "save_run_config", "DefaultTrainer",
           "train_or_evaluate"]

logger = logging.getLogger(__name__)


def default_setup(cfg, args) -> int:
    """Prepare a run: output folder, loggers, environment summary, seeds.

    SEED < 0 draws a random seed (logged, and written into the saved config so the run can be
    repeated). Returns the seed in use. The cfg is frozen afterwards. ``config.yaml`` is written by
    :func:`train_or_evaluate` once the run has passed every check that can refuse it, so a refused
    command leaves the folder's config as it was.

    The run folder is claimed first (:func:`~fastreid.engine.run_dir.claim_run_dir`): a folder holding
    an earlier run needs ``--resume`` or ``--overwrite``, and a second process in it stops. With
    ``--eval-only`` everything goes to ``OUTPUT_DIR/eval``, so a training run's files stay as they are.
    """
    rank = comm.get_rank()
    eval_only = getattr(args, "eval_only", False)
    if eval_only and cfg.OUTPUT_DIR:
        cfg.defrost()
        cfg.OUTPUT_DIR = os.path.join(cfg.OUTPUT_DIR, "eval")
    output_dir = cfg.OUTPUT_DIR
    claim_run_dir(output_dir, resume=getattr(args, "resume", False) or eval_only,
                  overwrite=getattr(args, "overwrite", False), lock=comm.is_main_process())
    comm.synchronize()
    from fastreid.utils.plugins import loaded_plugin_packages

    for name in ("fastreid", "__main__", *loaded_plugin_packages()):
        setup_logger(output_dir, distributed_rank=rank, name=name)
    logger.info("Rank of current process: %d. World size: %d", rank, comm.get_world_size())
    logger.info("Environment info:\n%s", collect_env_info())
    logger.info("Command line arguments: %s", args)
    if getattr(args, "config_file", ""):
        with open(args.config_file) as f:
            logger.info("Contents of config file %s:\n%s", args.config_file, f.read())
    seed = cfg.SEED if cfg.SEED >= 0 else int(comm.all_gather(seed_all_rng(-1))[0])
    cfg.defrost()
    cfg.SEED = seed
    cfg.freeze()
    seed_all_rng(derive_seed(seed, rank))
    logger.info("Running with full config:\n%s", cfg.dump())
    if not getattr(args, "eval_only", False) and torch.cuda.is_available():
        torch.backends.cudnn.benchmark = cfg.CUDNN_BENCHMARK
    return seed


def train_or_evaluate(cfg, args, trainer_cls: type = DefaultTrainer) -> Optional[Dict[str, Any]]:
    """The body of every ``train_net.py``: with ``--eval-only`` evaluate ``MODEL.WEIGHTS`` (loaded
    strictly; NUM_CLASSES 0 is taken from the checkpoint), otherwise train, resuming with ``--resume``."""
    if args.eval_only:
        if not cfg.MODEL.WEIGHTS:
            raise ConfigValueError("--eval-only evaluates MODEL.WEIGHTS, which is empty; expected "
                                   "MODEL.WEIGHTS <checkpoint.pth> (an untrained network is not evaluated)")
        cfg = fill_num_classes_from_checkpoint(cfg, cfg.MODEL.WEIGHTS)  # the classifier must match the checkpoint's
        model = trainer_cls.build_model(cfg)
        Checkpointer(model).load(cfg.MODEL.WEIGHTS, strict=True)
        _start(cfg)
        return trainer_cls.test(cfg, model)
    trainer = trainer_cls(cfg)
    trainer.resume_or_load(resume=args.resume)
    _start(trainer.cfg, set_aside=getattr(args, "overwrite", False) and not args.resume)
    return trainer.train()


def _start(cfg, set_aside: bool = False) -> None:
    """What a run does once every check that can refuse it has passed: (``--overwrite``) the earlier
    run's checkpoints and configs set aside, then ``config.yaml`` written (main process)."""
    if not (comm.is_main_process() and cfg.OUTPUT_DIR):
        return
    if set_aside:
        set_aside_previous_run(cfg.OUTPUT_DIR)
    logger.info("Full config saved to %s", save_run_config(cfg))
