#!/usr/bin/env python
"""Train or evaluate MSINet (and search its architecture) with the toolbox's engine.

    python projects/MSINet/train_net.py --config-file projects/MSINet/configs/Market1501/msinet_scratch.yml
    python projects/MSINet/train_net.py --config-file ... --eval-only MODEL.WEIGHTS converted.pth
    python projects/MSINet/train_net.py --config-file projects/MSINet/configs/Search/....yml   # SEARCH.ENABLED

Same flags as tools/train_net.py. With SEARCH.ENABLED the SearchTrainer (msinet.search_trainer) runs.
"""

import logging

from fastreid.config import get_cfg
from fastreid.engine import DefaultTrainer, default_argument_parser, default_setup, launch, train_or_evaluate
from fastreid.utils.errors import exit_on_user_error
from msinet import add_msinet_config
from msinet.search_trainer import check_search_cfg

logger = logging.getLogger("msinet.train_net")


def setup(args):
    """Defaults + the installed projects' keys (MSINet's among them), then the YAML and the command-line
    overrides; frozen."""
    cfg = get_cfg(plugins=True)
    add_msinet_config(cfg)  # a no-op when installed; run from a checkout without installing, it adds the keys
    if args.config_file:
        cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    check_search_cfg(cfg)
    default_setup(cfg, args)
    return cfg


def trainer_class(cfg):
    """DefaultTrainer, or the architecture-search trainer when SEARCH.ENABLED."""
    if cfg.SEARCH.ENABLED:
        from msinet.search_trainer import SearchTrainer

        return SearchTrainer
    return DefaultTrainer


def main(args):
    cfg = setup(args)
    return train_or_evaluate(cfg, args, trainer_class(cfg))


if __name__ == "__main__":
    args = default_argument_parser("MSINet training").parse_args()
    with exit_on_user_error():  # bad configs, paths, data, checkpoints: one line, no traceback
        launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
               dist_url=args.dist_url, args=(args,))
