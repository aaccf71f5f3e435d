#!/usr/bin/env python
"""Train a ReID model without identity labels: clustering rounds give pseudo-labels (Cluster Contrast),
or, with UNSUP.IDM.ENABLED, adapt from a labelled source (UNSUP.SOURCE.NAMES) with IDM.

    python projects/UnsupReID/train_net.py --config-file projects/UnsupReID/configs/PKUReIDSubset/usl_resnet50.yml
    python projects/UnsupReID/train_net.py --config-file ... --resume      # continue an interrupted run
    python projects/UnsupReID/train_net.py --config-file ... --eval-only MODEL.WEIGHTS logs/.../model_best.pth

Same flags and KEY VALUE overrides as tools/train_net.py. The target training images' identity labels are
never used for training; where the data set has them, they measure the pseudo-labels' quality.
"""

import logging

from fastreid.config import load_config
from fastreid.engine import default_argument_parser, default_setup, launch, train_or_evaluate
from fastreid.utils.errors import exit_on_user_error
from unsupreid import check_unsup_cfg, trainer_class

logger = logging.getLogger("unsupreid.train_net")


def setup(args):
    """Defaults + the installed projects' keys (UNSUP among them), the YAML and the overrides; checked."""
    cfg = load_config(args.config_file, args.opts, freeze=False)
    if not args.eval_only:
        check_unsup_cfg(cfg)
    default_setup(cfg, args)
    return cfg


def main(args):
    cfg = setup(args)
    return train_or_evaluate(cfg, args, trainer_class(cfg))


if __name__ == "__main__":
    args = default_argument_parser("unsupervised (clustering-based) ReID training").parse_args()
    with exit_on_user_error():
        launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
               dist_url=args.dist_url, args=(args,))
