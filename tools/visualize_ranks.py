#!/usr/bin/env python
"""Draw ranked lists of a ReID model: each query with its top-k gallery images, green border for the
same identity, red for a different one, and the cosine distance under each image.

Queries are chosen by average precision: ``--order best`` (highest AP first, the default) or
``--order worst`` (lowest AP first, for finding failure cases); the order is written into every file
name so it is never ambiguous. Gallery images of the query's own identity taken by the query's camera,
and junk images (identity -1), are left out, exactly as in evaluation.

Features come from a features file of a dataset (``tools/extract_features.py --dataset NAME``), or are
extracted now from a config + weights + ``--dataset NAME``::

    python tools/visualize_ranks.py --features pku.npz --output vis --num-vis 8 --topk 10
    python tools/visualize_ranks.py --config-file cfg.yml --weights model.pth --dataset PKUReid \\
        --output vis --order worst

Writes ``<order>_<i>_ap<AP>_<query>.png`` per query and ``ranked_lists.png`` (all of them stacked).
"""

from __future__ import annotations

import argparse
from typing import List, Optional

import numpy as np

from fastreid.engine.cli import ToolError, add_model_arguments, build_predictor, cli_errors, setup_logging
from fastreid.evaluation.feature_files import load_features
from fastreid.evaluation.ranked_lists import write_ranked_lists


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Draw ranked lists (query + top-k, green = same identity, red = different) for the "
                    "best or worst queries by average precision.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--features", metavar="FILE", help="features file of a dataset (.npz with pids/camids)")
    src.add_argument("--dataset", metavar="NAME", help="registered test dataset to extract (needs --config-file)")
    parser.add_argument("--output", default="vis_rank_list", metavar="DIR", help="folder for the PNG files")
    parser.add_argument("--num-vis", type=int, default=10, help="number of queries to draw")
    parser.add_argument("--topk", type=int, default=10, help="gallery images per query")
    parser.add_argument("--order", choices=("best", "worst"), default="best",
                        help="draw the queries with the highest (best) or lowest (worst) AP")
    parser.add_argument("--size", type=int, nargs=2, default=(128, 64), metavar=("H", "W"),
                        help="size of each drawn image in pixels")
    add_model_arguments(parser, required=False)
    return parser


@cli_errors
def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging()
    if args.num_vis < 1 or args.topk < 1:
        raise ToolError(f"--num-vis {args.num_vis} / --topk {args.topk}: expected positive integers")
    if args.features:
        data = load_features(args.features, require=("pids", "camids", "num_query"))
    else:
        if not args.config_file:
            raise ToolError("--dataset needs --config-file (and --weights) to extract features")
        data = build_predictor(args).run_on_dataset(args.dataset)
    write_ranked_lists(np.asarray(data.features), data.paths, data.pids, data.camids, data.num_query, args.output,
                       args.num_vis, args.topk, args.order, args.size)
    return 0


if __name__ == "__main__":
    main()
