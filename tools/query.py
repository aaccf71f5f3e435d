#!/usr/bin/env python
"""Search a gallery of images for the nearest neighbours of query images.

The gallery is a folder / list of images (featurised now) or a features file from
``tools/extract_features.py``. It is searched by :func:`fastreid.evaluation.retrieval.search_gallery`
(faiss's exact inner product on unit-length features when faiss is importable, otherwise numpy; both
give cosine distances ``1 - cos``).

Example::

    python tools/query.py --config-file cfg.yml --weights model.pth \\
        --gallery gallery/ --query q1.jpg q2.jpg --topk 5 --output query_out --strip --html

prints the top-k of every query and writes ``results.json`` (and with ``--strip`` one PNG per query,
with ``--html`` one ``results.html``) to ``--output``. With ``--same-folder-is-match`` images whose
parent folders have the same name count as the same identity (green border) and others as different
(red), which suits datasets stored as ``<identity>/<image>``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import List, Optional

from fastreid.data.image_lists import collect_images
from fastreid.engine.cli import ToolError, add_model_arguments, build_predictor, cli_errors, setup_logging
from fastreid.evaluation.feature_files import load_features
from fastreid.evaluation.retrieval import search_gallery
from fastreid.utils.file_io import atomic_open

logger = logging.getLogger("fastreid.tools.query")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Find the top-k gallery images of each query image (cosine distance, faiss or numpy).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    gal = parser.add_mutually_exclusive_group(required=True)
    gal.add_argument("--gallery", nargs="+", metavar="PATH", help="gallery image files, folders or .txt lists")
    gal.add_argument("--gallery-features", metavar="FILE", help="gallery features file (.npz) to search")
    parser.add_argument("--query", nargs="+", required=True, metavar="PATH",
                        help="query image files, folders or .txt lists")
    parser.add_argument("--topk", type=int, default=10, help="results per query")
    parser.add_argument("--output", default="query_output", metavar="DIR", help="folder for results.json etc.")
    parser.add_argument("--strip", action="store_true", help="also save one image strip PNG per query")
    parser.add_argument("--html", action="store_true", help="also save results.html with thumbnails")
    parser.add_argument("--same-folder-is-match", action="store_true",
                        help="colour results by whether query and result share a parent folder name")
    parser.add_argument("--no-faiss", action="store_true", help="search with numpy even if faiss is installed")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    add_model_arguments(parser)
    return parser


def _identity(path: str) -> str:
    return os.path.basename(os.path.dirname(os.path.abspath(path)))


@cli_errors
def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging()
    if args.topk < 1:
        raise ToolError(f"--topk: {args.topk}; expected a positive integer")
    query_paths = collect_images(args.query, "--query")
    if args.gallery_features:
        stored = load_features(args.gallery_features)
        gallery_paths, gallery_feats = stored.paths, stored.features
    else:
        gallery_paths = collect_images(args.gallery, "--gallery")
    predictor = build_predictor(args)
    if args.gallery_features:
        if stored.size_hw != predictor.size_hw:
            logger.warning("gallery features were extracted at %s but queries use INPUT.SIZE_TEST %s",
                           stored.size_hw, predictor.size_hw)
    else:
        logger.info("indexing %d gallery images", len(gallery_paths))
        gallery_feats = predictor.run_on_files(gallery_paths, args.batch_size).numpy()
    query_feats = predictor.run_on_files(query_paths, args.batch_size).numpy()
    if query_feats.shape[1] != gallery_feats.shape[1]:
        raise ToolError(f"query features have {query_feats.shape[1]} dims but the gallery has "
                        f"{gallery_feats.shape[1]}; were they made by the same model?")
    found = search_gallery(query_feats, gallery_feats, args.topk, use_faiss=not args.no_faiss)

    os.makedirs(args.output, exist_ok=True)
    results = []
    for qi, qpath in enumerate(query_paths):
        hits = [{"rank": r + 1, "path": gallery_paths[int(gi)], "distance": float(d)}
                for r, (gi, d) in enumerate(zip(found.indices[qi], found.distances[qi]))]
        results.append({"query": qpath, "results": hits})
        print(f"query {qpath}")
        for h in hits:
            print(f"  {h['rank']:3d}  {h['distance']:.4f}  {h['path']}")
    with atomic_open(os.path.join(args.output, "results.json")) as f:
        json.dump({"topk": args.topk, "distance": "1 - cosine", "queries": results}, f, indent=1)
    _write_pictures(args, results)
    logger.info("wrote results for %d queries to %s", len(results), args.output)
    return 0


def _write_pictures(args: argparse.Namespace, results: List[dict]) -> None:
    if not (args.strip or args.html):
        return
    from fastreid.utils.visualizer import draw_rank_list, rank_list_html

    rows = []
    for qi, res in enumerate(results):
        gpaths = [h["path"] for h in res["results"]]
        matches = None
        if args.same_folder_is_match:
            matches = [_identity(p) == _identity(res["query"]) for p in gpaths]
        row = {"query": res["query"], "query_name": os.path.basename(res["query"]), "gallery": gpaths,
               "gallery_names": gpaths, "distances": [h["distance"] for h in res["results"]],
               "matches": matches}
        rows.append(row)
        if args.strip:
            name = f"query_{qi:04d}_{os.path.splitext(os.path.basename(res['query']))[0]}.png"
            draw_rank_list(row["query"], gpaths, row["distances"], matches,
                           title=row["query_name"]).save(os.path.join(args.output, name))
    if args.html:
        with atomic_open(os.path.join(args.output, "results.html")) as f:
            f.write(rank_list_html(rows, title=f"Top-{args.topk} results"))


if __name__ == "__main__":
    sys.exit(main())
