#!/usr/bin/env python
"""Extract L2-normalised ReID features of images into one ``.npz`` file.

Inputs are image files, folders (searched recursively) or ``.txt`` list files (one path per line,
relative to the list file), or ``--dataset NAME`` for the query + gallery of a registered test dataset
(the file then also stores pids, camids and num_query, which ``tools/visualize_ranks.py`` reads).

Examples::

    python tools/extract_features.py --config-file cfg.yml --weights model.pth \\
        --input gallery/ --output gallery.npz
    python tools/extract_features.py --config-file cfg.yml --weights model.pth \\
        --dataset PKUReid --output pku.npz

The features come from :class:`fastreid.engine.predictor.DefaultPredictor` (images resized to
INPUT.SIZE_TEST, 0..255 RGB, model normalisation inside); ``features @ features.T`` is the cosine
similarity.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import List, Optional

import numpy as np

from fastreid.data.image_lists import collect_images
from fastreid.engine.cli import ToolError, add_model_arguments, build_predictor, cli_errors, setup_logging
from fastreid.evaluation.feature_files import save_features

logger = logging.getLogger("fastreid.tools.extract_features")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Extract L2-normalised ReID features of images (or of a test dataset) into a .npz file.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", nargs="+", metavar="PATH", help="image files, folders or .txt list files")
    src.add_argument("--dataset", metavar="NAME", help="registered test dataset: query + gallery with identities")
    parser.add_argument("--output", required=True, metavar="FILE", help="features file to write (.npz)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    add_model_arguments(parser)
    return parser


def _progress(start: float):
    state = {"last": 0.0}

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - state["last"] > 2.0:
            state["last"] = now
            rate = done / max(now - start, 1e-9)
            logger.info("features: %d / %d images (%.1f img/s)", done, total, rate)

    return report


@cli_errors
def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging()
    if args.batch_size < 1:
        raise ToolError(f"--batch-size: {args.batch_size}; expected a positive integer")
    predictor = build_predictor(args)
    start = time.perf_counter()
    if args.dataset:
        found = predictor.run_on_dataset(args.dataset, _progress(start))
        feats = found.features.numpy()
        save_features(args.output, found.paths, feats, predictor.size_hw, found.pids, found.camids, found.num_query)
        extra = f", {found.num_query} query + {len(found.paths) - found.num_query} gallery"
    else:
        paths = collect_images(args.input)
        logger.info("extracting %d images at %s (H, W)", len(paths), predictor.size_hw)
        feats = predictor.run_on_files(paths, args.batch_size, _progress(start)).numpy()
        save_features(args.output, paths, feats, predictor.size_hw)
        extra = ""
    logger.info("wrote %s: %d x %d features%s in %.1f s", args.output, feats.shape[0], feats.shape[1],
                extra, time.perf_counter() - start)
    if not np.isfinite(feats).all():
        raise ToolError(f"{args.output}: some features are not finite (NaN or inf); check the weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
