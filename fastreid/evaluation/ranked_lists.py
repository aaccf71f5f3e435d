"""Ranked lists as pictures: each query with its top-k gallery images (green border: same identity,
red: another), the cosine distance under each image, for the best or worst queries by average
precision, exactly under the evaluation's protocol (:func:`~fastreid.evaluation.rank.ranked_gallery`)."""

from __future__ import annotations

import logging
import os
from typing import List, Sequence

import numpy as np

from fastreid.utils.errors import ToolError
from fastreid.utils.file_io import atomic_open

from .rank import per_query_ap, ranked_gallery

__all__ = ["write_ranked_lists"]

logger = logging.getLogger(__name__)


def _save_png(image, path: str) -> None:
    with atomic_open(path, "wb") as f:  # a stopped run never leaves a half-written picture
        image.save(f, format="PNG")


def write_ranked_lists(features: np.ndarray, paths: Sequence[str], pids: Sequence[int], camids: Sequence[int],
                       num_query: int, output: str, num_vis: int = 10, topk: int = 10, order: str = "best",
                       size_hw: Sequence[int] = (128, 64)) -> List[str]:
    """Draw ``num_vis`` queries (highest AP first for ``order`` "best", lowest for "worst") with their
    ``topk`` gallery images from L2-normalised ``features`` (query rows first). Writes
    ``<order>_<i>_ap<AP>_<query>.png`` per query and ``ranked_lists.png`` (all stacked) into ``output``;
    returns the written paths."""
    from PIL import Image

    from fastreid.utils.visualizer import draw_rank_list

    if num_vis < 1 or topk < 1:
        raise ToolError(f"--num-vis {num_vis} / --topk {topk}: expected positive integers")
    if order not in ("best", "worst"):
        raise ToolError(f"order {order!r}: expected best or worst")
    nq = int(num_query)
    feats = np.asarray(features, dtype=np.float32)
    pids, camids, paths = np.asarray(pids), np.asarray(camids), [str(p) for p in paths]
    if not 0 < nq < len(paths):
        raise ToolError(f"num_query is {nq} but there are {len(paths)} images; expected 0 < num_query < N")
    distmat = 1.0 - feats[:nq] @ feats[nq:].T
    q_pids, g_pids, q_cams, g_cams = pids[:nq], pids[nq:], camids[:nq], camids[nq:]
    ap = per_query_ap(distmat, q_pids, g_pids, q_cams, g_cams)
    valid = np.flatnonzero(~np.isnan(ap))
    if not len(valid):
        raise ToolError("no query has a true match in the gallery; nothing to rank")
    logger.info("%d queries with a match, mAP %.1f%%", len(valid), 100 * ap[valid].mean())
    key = -ap[valid] if order == "best" else ap[valid]
    chosen = valid[np.argsort(key, kind="stable")][:num_vis]

    os.makedirs(output, exist_ok=True)
    strips, written = [], []
    for i, q in enumerate(chosen):
        keep = ranked_gallery(q_pids[q], q_cams[q], g_pids, g_cams)
        top = keep[np.argsort(distmat[q, keep], kind="stable")[:topk]]
        strip = draw_rank_list(paths[q], [paths[nq + g] for g in top], distmat[q, top],
                               matches=list(g_pids[top] == q_pids[q]), size_hw=size_hw, title=f"AP {ap[q]:.2f}")
        name = f"{order}_{i:03d}_ap{ap[q]:.3f}_{os.path.splitext(os.path.basename(paths[q]))[0]}.png"
        _save_png(strip, os.path.join(output, name))
        written.append(os.path.join(output, name))
        strips.append(strip)
    sheet = Image.new("RGB", (max(s.width for s in strips), sum(s.height for s in strips)), (255, 255, 255))
    y = 0
    for s in strips:
        sheet.paste(s, (0, y))
        y += s.height
    _save_png(sheet, os.path.join(output, "ranked_lists.png"))
    written.append(os.path.join(output, "ranked_lists.png"))
    logger.info("wrote %d ranked lists (%s AP first) to %s", len(strips), order, output)
    return written
