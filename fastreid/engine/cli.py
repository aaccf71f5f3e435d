"""The command-line side of the entry points: the training command's flags (``default_argument_parser``),
the config overrides of every command that builds a model's config from a YAML, and for the tools
(``tools/*.py``) model arguments, the config of a trained model, its predictor, logging, and the
one-line error policy. The tools are thin layers over these and over the library's feature files
(:mod:`fastreid.evaluation.feature_files`), retrieval (:mod:`fastreid.evaluation.retrieval`) and image
lists (:mod:`fastreid.data.image_lists`).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
from typing import Callable, List, Optional, Sequence

from fastreid.utils.errors import ToolError

__all__ = ["ToolError", "default_argument_parser", "add_override_arguments", "add_model_arguments", "setup_logging",
           "load_cfg", "build_predictor", "cli_errors"]


def setup_logging(verbose: bool = False) -> None:
    """INFO (or DEBUG) logging to stderr with a short timestamped format."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="[%(asctime)s %(name)s] %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )


class _ExtendOverrides(argparse.Action):
    """Collects KEY VALUE words into ``opts`` from both spellings; a literal ``--opts`` among the
    trailing words is dropped, so ``... KEY VALUE --opts KEY VALUE`` also works."""

    def __call__(self, parser, namespace, values, option_string=None):
        words = [v for v in (values or []) if v != "--opts"]
        namespace.opts = list(getattr(namespace, "opts", None) or []) + words


def add_override_arguments(parser: argparse.ArgumentParser) -> None:
    """The one config-override convention of the commands that take overrides: KEY VALUE pairs at the
    end of the command line, bare (fast-reid's and detectron2's spelling) or after ``--opts``. ``--opts`` is needed only
    after an option that takes several words (``--query a.jpg b.jpg``), which would swallow bare pairs.
    Both land in ``args.opts``."""
    parser.add_argument("--opts", dest="opts", nargs=argparse.REMAINDER, default=[], action=_ExtendOverrides,
                        metavar="KEY VALUE", help="config overrides (the same as bare trailing KEY VALUE pairs)")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, default=argparse.SUPPRESS, action=_ExtendOverrides,
                        metavar="KEY VALUE", help="config overrides, e.g. SOLVER.BASE_LR 0.01 INPUT.SIZE_TEST 256,128")


def default_argument_parser(description: str = "fastreid training") -> argparse.ArgumentParser:
    """The flags of every ``train_net.py``: config file, resume / overwrite / eval-only, process layout
    and KEY VALUE overrides."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", default="", metavar="FILE", help="path to the YAML config")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUTPUT_DIR/last_checkpoint (else start from MODEL.WEIGHTS)")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in an OUTPUT_DIR that holds one (its checkpoints and config move "
                        "into an overwritten-<date> subfolder)")
    p.add_argument("--eval-only", action="store_true",
                   help="evaluate MODEL.WEIGHTS (strict load) and exit; writes into OUTPUT_DIR/eval")
    p.add_argument("--num-gpus", type=int, default=1,
                   help="processes per machine: one per GPU, or CPU processes (gloo) without CUDA")
    p.add_argument("--num-machines", type=int, default=1, help="total number of machines")
    p.add_argument("--machine-rank", type=int, default=0, help="rank of this machine (from 0)")
    p.add_argument("--dist-url", default="auto",
                   help="rendezvous URL, e.g. tcp://10.0.0.1:29500; 'auto' picks a free local port")
    add_override_arguments(p)
    return p


def add_model_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """--config-file, --weights, --random-weights, --device and the config overrides
    (:func:`add_override_arguments`)."""
    parser.add_argument("--config-file", required=required, metavar="FILE", help="YAML config of the model")
    parser.add_argument("--weights", default="", metavar="FILE",
                        help="checkpoint to load (overrides MODEL.WEIGHTS)")
    parser.add_argument("--random-weights", action="store_true",
                        help="allow running without weights (an untrained network; for smoke tests)")
    parser.add_argument("--device", default="", help="torch device, e.g. cpu or cuda (default: the config's)")
    add_override_arguments(parser)


def load_cfg(config_file: str, weights: str = "", opts: Sequence[str] = (), device: str = "",
             random_weights: bool = False):
    """The frozen config of a model: defaults + ``config_file`` + ``opts`` + weights / device.

    ImageNet pre-training is switched off (the checkpoint replaces it). Without weights (from
    ``weights`` or MODEL.WEIGHTS) this is an error unless ``random_weights``.
    """
    from fastreid.config import load_config

    if not os.path.isfile(config_file):
        raise ToolError(f"--config-file: file not found: {config_file}")
    cfg = load_config(config_file, opts, freeze=False)
    if weights:
        cfg.MODEL.WEIGHTS = weights
    if device:
        cfg.MODEL.DEVICE = device
    cfg.MODEL.BACKBONE.PRETRAIN = False
    if cfg.MODEL.WEIGHTS and not os.path.isfile(cfg.MODEL.WEIGHTS):
        raise ToolError(f"weights: checkpoint file not found: {cfg.MODEL.WEIGHTS}")
    if not cfg.MODEL.WEIGHTS and not random_weights:
        raise ToolError(
            f"{config_file}: no weights (MODEL.WEIGHTS is empty); pass --weights FILE, "
            "or --random-weights to use an untrained network"
        )
    cfg.freeze()
    return cfg


def build_predictor(args: argparse.Namespace):
    """A DefaultPredictor from the arguments of :func:`add_model_arguments`."""
    from fastreid.engine.predictor import DefaultPredictor

    cfg = load_cfg(args.config_file, args.weights, args.opts, args.device, args.random_weights)
    return DefaultPredictor(cfg)


def cli_errors(main: Callable[[Optional[List[str]]], int]) -> Callable[[Optional[List[str]]], int]:
    """Turn user-input errors raised inside ``main`` into ``SystemExit("error: <one line>")``."""
    from fastreid.utils.errors import exit_on_user_error

    @functools.wraps(main)
    def wrapper(argv: Optional[List[str]] = None) -> int:
        with exit_on_user_error():
            return main(argv)

    return wrapper
