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
import logging
import os
import sys
from typing import List, Optional

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    ToolError,
    add_model_arguments,
    build_predictor,
    cli_errors,
    load_features,
    setup_logging,
)

logger = logging.getLogger("fastreid.tools.visualize_ranks")


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


def shown_gallery(q_pid: int, q_camid: int, g_pids: np.ndarray, g_camids: np.ndarray) -> np.ndarray:
    """Gallery indices a query is ranked against: the evaluation's rule drops its own identity seen by
    its own camera and the junk identity -1."""
    return np.flatnonzero(~(((g_pids == q_pid) & (g_camids == q_camid)) | (g_pids == -1)))


def per_query_ap(distmat: np.ndarray, q_pids, g_pids, q_camids, g_camids) -> np.ndarray:
    """AP of every query from the evaluation's ``evaluate_rank`` (NaN where a query has no true match)."""
    from fastreid.evaluation import evaluate_rank

    has_match = np.array([(g_pids[shown_gallery(p, c, g_pids, g_camids)] == p).any()
                          for p, c in zip(q_pids, q_camids)], dtype=bool)
    ap = np.full(distmat.shape[0], np.nan)
    if has_match.any():
        _cmc, all_ap, _inp = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids,
                                           max_rank=min(50, distmat.shape[1]))
        assert len(all_ap) == has_match.sum(), "evaluate_rank kept a different set of queries"
        ap[has_match] = np.asarray(all_ap, dtype=np.float64)
    return ap


def _load(args: argparse.Namespace) -> dict:
    if args.features:
        return load_features(args.features, require=("pids", "camids", "num_query"))
    if not args.config_file:
        raise ToolError("--dataset needs --config-file (and --weights) to extract features")
    from extract_features import extract_dataset

    feats, paths, pids, camids, num_query = extract_dataset(build_predictor(args), args.dataset)
    return {"features": feats, "paths": np.asarray(paths), "pids": np.asarray(pids),
            "camids": np.asarray(camids), "num_query": np.asarray(num_query)}


@cli_errors
def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging()
    if args.num_vis < 1 or args.topk < 1:
        raise ToolError(f"--num-vis {args.num_vis} / --topk {args.topk}: expected positive integers")
    from fastreid.utils.visualizer import draw_rank_list

    data = _load(args)
    nq = int(data["num_query"])
    feats, pids, camids = data["features"].astype(np.float32), data["pids"], data["camids"]
    paths = [str(p) for p in data["paths"]]
    if not 0 < nq < len(paths):
        raise ToolError(f"num_query is {nq} but there are {len(paths)} images; expected 0 < num_query < N")
    distmat = 1.0 - feats[:nq] @ feats[nq:].T
    q_pids, g_pids, q_cams, g_cams = pids[:nq], pids[nq:], camids[:nq], camids[nq:]
    ap = per_query_ap(distmat, q_pids, g_pids, q_cams, g_cams)
    valid = np.flatnonzero(~np.isnan(ap))
    if not len(valid):
        raise ToolError("no query has a true match in the gallery; nothing to rank")
    logger.info("%d queries with a match, mAP %.1f%%", len(valid), 100 * ap[valid].mean())
    key = -ap[valid] if args.order == "best" else ap[valid]
    chosen = valid[np.argsort(key, kind="stable")][: args.num_vis]

    os.makedirs(args.output, exist_ok=True)
    strips = []
    for i, q in enumerate(chosen):
        keep = shown_gallery(q_pids[q], q_cams[q], g_pids, g_cams)
        top = keep[np.argsort(distmat[q, keep], kind="stable")[: args.topk]]
        strip = draw_rank_list(paths[q], [paths[nq + g] for g in top], distmat[q, top],
                               matches=list(g_pids[top] == q_pids[q]), size_hw=args.size,
                               title=f"AP {ap[q]:.2f}")
        name = f"{args.order}_{i:03d}_ap{ap[q]:.3f}_{os.path.splitext(os.path.basename(paths[q]))[0]}.png"
        strip.save(os.path.join(args.output, name))
        strips.append(strip)
    sheet = Image.new("RGB", (max(s.width for s in strips), sum(s.height for s in strips)), (255, 255, 255))
    y = 0
    for s in strips:
        sheet.paste(s, (0, y))
        y += s.height
    sheet.save(os.path.join(args.output, "ranked_lists.png"))
    logger.info("wrote %d ranked lists (%s AP first) to %s", len(strips), args.order, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
