#!/usr/bin/env python
"""Real-data benchmark: train from scratch on the PKU-Reid subset and compare backbones.

Protocol (``../shared/data/pku-reid-subset/README.md``): the first 40 identities train (640 images),
the other 34 are tested with camera 01 as query (272) and camera 02 as gallery (272). Every model is
trained from scratch with the same recipe (``configs/PKUReIDSubset/bench_scratch.yml``), the same seed
and the same input size, and evaluated with the standard Market-1501 rule. A colour-histogram baseline
(HSV 8x4x4 on 4 horizontal stripes, cosine distance) is computed by the same script on the same split.

    python tools/benchmark_pku.py --data-root ../shared/data --output logs/pku_bench --json pku.json

The table printed at the end is what README.md reports; every number in it comes from this command.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from fastreid.engine.cli import add_override_arguments
from fastreid.utils import report
from fastreid.utils.env import machine_summary
from fastreid.utils.file_io import atomic_open

REPO = Path(__file__).resolve().parents[1]
BASE_CONFIG = REPO / "configs" / "PKUReIDSubset" / "bench_scratch.yml"

# model row -> config overrides on top of BASE_CONFIG; every row shares recipe, seed and input size
MODELS: Dict[str, List[str]] = {
    "msinet": ["MODEL.BACKBONE.NAME", "msinet", "MODEL.MSINET.GENOTYPE", "msmt", "MODEL.HEADS.NAME", "FBLNeck"],
    "msinet_random": ["MODEL.BACKBONE.NAME", "msinet", "MODEL.MSINET.GENOTYPE", "random",
                      "MODEL.MSINET.SEED", "1", "MODEL.HEADS.NAME", "FBLNeck"],
    "osnet": ["MODEL.BACKBONE.NAME", "osnet", "MODEL.HEADS.NAME", "EmbeddingHead",
              "MODEL.HEADS.EMBEDDING_DIM", "512"],
    "resnet50": ["MODEL.BACKBONE.NAME", "resnet50", "MODEL.HEADS.NAME", "EmbeddingHead"],
}

logger = logging.getLogger("benchmark_pku")


def default_data_root() -> str:
    """``../shared/data`` beside the repository when present, else ``$FASTREID_DATASETS``."""
    shared = REPO.parent / "shared" / "data"
    if (shared / "pku-reid-subset").is_dir():
        return str(shared)
    return os.environ.get("FASTREID_DATASETS", "datasets")


# ------------------------------------------------------------------------------- colour histogram
def colour_histogram(path: str, bins=(8, 4, 4), stripes: int = 4) -> np.ndarray:
    """HSV histogram (8x4x4 bins) of each of ``stripes`` horizontal stripes, concatenated, L1 per stripe."""
    from PIL import Image

    hsv = np.asarray(Image.open(path).convert("RGB").convert("HSV"), dtype=np.int64)
    h, s, v = (hsv[..., i] * b // 256 for i, b in enumerate(bins))
    codes = (h * bins[1] + s) * bins[2] + v
    parts = np.array_split(codes, stripes, axis=0)
    feats = []
    for p in parts:
        hist = np.bincount(p.ravel(), minlength=int(np.prod(bins))).astype(np.float64)
        feats.append(hist / max(hist.sum(), 1.0))
    return np.concatenate(feats)


def evaluate_colour_histogram(dataset) -> Dict[str, float]:
    """Rank-1/5, mAP, mINP (percent) of the colour histogram with cosine distance on ``dataset``'s test split."""
    from fastreid.evaluation import compute_distance, evaluate_rank

    q = np.stack([colour_histogram(p) for p, _, _ in dataset.query]).astype(np.float32)
    g = np.stack([colour_histogram(p) for p, _, _ in dataset.gallery]).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    dist = compute_distance(q, g, metric="cosine")
    qp = np.array([x[1] for x in dataset.query])
    gp = np.array([x[1] for x in dataset.gallery])
    qc = np.array([x[2] for x in dataset.query])
    gc = np.array([x[2] for x in dataset.gallery])
    cmc, ap, inp = evaluate_rank(dist, qp, gp, qc, gc)
    return {"Rank-1": 100 * float(cmc[0]), "Rank-5": 100 * float(cmc[4]), "mAP": 100 * float(ap.mean()),
            "mINP": 100 * float(inp.mean())}


# ------------------------------------------------------------------------------- learned models
def build_cfg(args, name: str, overrides: Sequence[str]):
    from fastreid.config import get_cfg

    cfg = get_cfg(plugins=True)
    cfg.merge_from_file(str(BASE_CONFIG))
    cfg.merge_from_list(list(overrides) + [
        "DATASETS.ROOT", args.data_root,
        "INPUT.SIZE_TRAIN", f"[{args.height}, {args.width}]",
        "INPUT.SIZE_TEST", f"[{args.height}, {args.width}]",
        "SOLVER.MAX_EPOCH", str(args.epochs),
        "SEED", str(args.seed),
        "OUTPUT_DIR", os.path.join(args.output, name),
    ] + list(args.opts))
    cfg.freeze()
    return cfg


def train_and_evaluate(cfg, overwrite: bool = False) -> Dict[str, float]:
    """Train ``cfg`` with the DefaultTrainer; returns the final evaluation plus timing and size."""
    import torch

    from fastreid.engine import DefaultTrainer, start_run

    start_run(cfg, overwrite=overwrite)  # DefaultTrainer seeds itself from cfg.SEED
    trainer = DefaultTrainer(cfg)
    params = sum(p.numel() for p in trainer.model.parameters())
    untrained = DefaultTrainer.test(cfg, trainer.model, loaders=trainer.test_loaders)
    t0 = time.perf_counter()
    results = trainer.train()
    seconds = time.perf_counter() - t0
    out = {k: float(results[k]) for k in ("Rank-1", "Rank-5", "mAP", "mINP")}
    out.update({"untrained_mAP": float(untrained["mAP"]), "train_seconds": seconds, "parameters": int(params),
                "threads": torch.get_num_threads()})
    return out


def markdown_table(rows: Dict[str, Dict[str, float]]) -> str:
    """The README's table: one row per model (the colour histogram has no training columns)."""
    header = ["model", "Rank-1", "Rank-5", "mAP", "mINP", "untrained mAP", "train time"]
    return report.markdown_table(header, [
        [name, f"{r['Rank-1']:.1f}", f"{r['Rank-5']:.1f}", f"{r['mAP']:.1f}", f"{r['mINP']:.1f}",
         f"{r['untrained_mAP']:.1f}" if "untrained_mAP" in r else "-",
         f"{r['train_seconds'] / 60:.1f} min" if "train_seconds" in r else "-"] for name, r in rows.items()])


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=default_data_root(),
                   help="folder holding pku-reid-subset/ (default: ../shared/data beside the repo)")
    p.add_argument("--output", default="logs/pku_bench", help="folder for each model's run")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {', '.join(MODELS)}")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--width", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default="", help="also write the results here")
    p.add_argument("--overwrite", action="store_true",
                   help="train again in model folders that hold an earlier run (their checkpoints are replaced)")
    add_override_arguments(p)
    return p.parse_args(argv)


def main(argv=None) -> Dict[str, Dict[str, float]]:
    args = parse_args(argv)
    from fastreid.data import build_dataset
    from fastreid.utils.env import collect_env_info
    from fastreid.utils.logger import setup_logger

    setup_logger(args.output, name="fastreid")
    setup_logger(args.output, name="msinet")
    setup_logger(args.output, name="benchmark_pku", abbrev_name="pku")
    unknown = [m for m in args.models.split(",") if m not in MODELS]
    if unknown:
        raise SystemExit(f"--models: unknown {', '.join(unknown)}; expected a subset of {', '.join(MODELS)}")
    cmd = "python tools/benchmark_pku.py " + " ".join(sys.argv[1:] if argv is None else argv)
    logger.info("command: %s", cmd)

    from fastreid.config import get_cfg

    cfg = get_cfg(plugins=True)
    cfg.merge_from_list(["DATASETS.ROOT", args.data_root])
    dataset = build_dataset(cfg, "PKUReIDSubset")
    rows: Dict[str, Dict[str, float]] = {"colour histogram (HSV 8x4x4, 4 stripes)": evaluate_colour_histogram(dataset)}
    for name in args.models.split(","):
        logger.info("=== %s ===", name)
        rows[name] = train_and_evaluate(build_cfg(args, name, MODELS[name]), overwrite=args.overwrite)
        logger.info("%s: %s", name, rows[name])
    table = markdown_table(rows)
    machine = machine_summary()
    logger.info("PKU-Reid subset (40 train ids / 34 test ids), input %dx%d, %d epochs, seed %d\n%s",
                args.height, args.width, args.epochs, args.seed, table)
    summary = {"command": cmd, "machine": machine, "env": collect_env_info().splitlines()[:3],
               "input": [args.height, args.width], "epochs": args.epochs, "seed": args.seed, "results": rows}
    if args.json:
        with atomic_open(args.json) as f:
            json.dump(summary, f, indent=2)
    print(table)
    return rows


if __name__ == "__main__":
    main()
