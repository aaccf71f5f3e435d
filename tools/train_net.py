#!/usr/bin/env python
"""Train or evaluate a ReID model from a YAML config.

    python tools/train_net.py --config-file configs/x.yml [--num-gpus N] [--resume] [KEY VALUE ...]
    python tools/train_net.py --config-file configs/x.yml --eval-only MODEL.WEIGHTS path/model_best.pth

Components of installed projects (e.g. MSINet) are found through the ``fastreid.plugins`` entry
points that ``load_config`` (``get_cfg(plugins=True)``) loads.
"""

from fastreid.config import load_config
from fastreid.engine import default_argument_parser, default_setup, launch, train_or_evaluate
from fastreid.utils.errors import exit_on_user_error


def setup(args):
    """Defaults + installed projects' keys, then the YAML file, then the command-line overrides."""
    cfg = load_config(args.config_file, args.opts, freeze=False)
    default_setup(cfg, args)
    return cfg


def main(args):
    return train_or_evaluate(setup(args), args)


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    with exit_on_user_error():  # bad configs, paths, data, checkpoints: one line, no traceback
        launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
               dist_url=args.dist_url, args=(args,))
