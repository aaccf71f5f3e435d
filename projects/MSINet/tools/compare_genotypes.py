#!/usr/bin/env python
"""Searched vs. random, uniform and hand-designed architectures under one recipe (paper Fig. 5 b).

    python projects/MSINet/tools/compare_genotypes.py --config-file configs/PKUReIDSubset/bench_scratch.yml \\
        --search-config projects/MSINet/configs/Search/pku_subset.yml --seeds 3 --random 2 \\
        --output logs/compare_pku DATASETS.ROOT ../shared/data MODEL.HEADS.NAME FBLNeck

For each seed: a TCM search on the training identities (its own identity split), then the searched
genotype, the paper's msmt, K random genotypes, the four uniform genotypes, OSNet and ResNet-50 are
trained with the recipe and evaluated once on the test split. Writes DIR/results.json, results.md and
results.png and prints the table. Run the same command again to continue: finished runs are skipped,
an interrupted one resumes from its last checkpoint. KEY VALUE overrides apply to the recipe and the
search. Without --search-config the search uses the recipe with the MSI supernet and SEARCH.* keys.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from fastreid.config import get_cfg
from fastreid.engine.cli import add_override_arguments
from fastreid.utils.errors import exit_on_user_error
from fastreid.utils.logger import setup_logger
from msinet import add_msinet_config
from msinet.compare import GenotypeComparison

logger = logging.getLogger("msinet.compare")

# What turns a training recipe into a search recipe when no --search-config is given.
SEARCH_SWITCHES = ["MODEL.META_ARCHITECTURE", "SearchBaseline", "MODEL.BACKBONE.NAME", "msinet_supernet",
                   "SEARCH.ENABLED", "True"]


def load(config_file: str, opts: List[str]):
    """Defaults + the installed projects' keys (MSINet's among them), the YAML, the overrides."""
    cfg = get_cfg(plugins=True)
    add_msinet_config(cfg)  # a no-op when installed; run from a checkout without installing, it adds the keys
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(opts)
    return cfg


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, help="the training recipe shared by every architecture")
    p.add_argument("--search-config", default="", help="the search recipe (default: derived from --config-file)")
    p.add_argument("--no-search", action="store_true", help="skip the search (no 'searched' row)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..S-1 for every search and training (default 3)")
    p.add_argument("--random", type=int, default=2, help="number of random genotypes (default 2)")
    p.add_argument("--baselines", default="osnet,resnet50", help="hand-designed backbones ('' for none)")
    p.add_argument("--architectures", default="", help="comma-separated subset of the rows (default: all), "
                   "e.g. searched,msmt,random-1,none,osnet")
    p.add_argument("--tune-lr", default="", help="comma-separated learning rates; each backbone family takes "
                   "the one with the best mAP on a validation split of the training identities")
    p.add_argument("--on-validation", action="store_true", help="evaluate every run on a validation split of "
                   "the training identities (drawn with its seed) instead of the test split: for design choices; "
                   "needs --no-search")
    p.add_argument("--valid-ratio", type=float, default=0.2,
                   help="training identities held out for --tune-lr and --on-validation")
    p.add_argument("--output", required=True, help="output folder DIR (rerun with the same DIR to continue)")
    add_override_arguments(p)
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None):
    args = parse_args(argv)
    if args.seeds < 1:
        raise SystemExit(f"error: --seeds {args.seeds}: expected at least 1")
    for name in ("fastreid", "msinet"):
        setup_logger(args.output, name=name)
    with exit_on_user_error((ValueError,)):
        recipe = load(args.config_file, args.opts)
        search_cfg = None
        if not args.no_search:
            search_cfg = (load(args.search_config, args.opts) if args.search_config
                          else load(args.config_file, args.opts + SEARCH_SWITCHES))
        tune = [float(x) for x in args.tune_lr.split(",") if x.strip()]
        baselines = [b for b in args.baselines.split(",") if b.strip()]
        comparison = GenotypeComparison(recipe, args.output, list(range(args.seeds)), args.random, search_cfg,
                                        tune, args.valid_ratio, baselines,
                                        [a for a in args.architectures.split(",") if a.strip()],
                                        command=" ".join(["python projects/MSINet/tools/compare_genotypes.py",
                                                          *(sys.argv[1:] if argv is None else argv)]),
                                        on_validation=args.on_validation)
        report = comparison.run()
    print((comparison.out / "results.md").read_text())
    return report


if __name__ == "__main__":
    main()
