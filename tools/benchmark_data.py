#!/usr/bin/env python
"""Training-loader throughput (images/s) at 256x128 with 0 and 2 workers, on the synthetic dataset.

    python tools/benchmark_data.py [--root /tmp/fastreid-bench] [--workers 0 2] [--batches 20]
                                   [--batch 64] [--size 256 128] [--json out.json]

The loader is the real one (``build_reid_train_loader``: NaiveIdentitySampler, resize, flip, pad +
crop, random erasing) over SyntheticReID (synthetic, generated pedestrians, 128x64 source images;
generated into ``--root`` on first use). The first batch (worker start-up) is excluded from the timing.
Timings depend on machine load: compare the rows of one run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Dict, List

import torch
from tabulate import tabulate

from fastreid.config import get_cfg
from fastreid.data import build_reid_train_loader
from fastreid.utils.env import format_machine, machine_summary


def measure(cfg, workers: int, batches: int) -> Dict[str, float]:
    """Images/s of the training loader with ``workers`` processes over ``batches`` timed batches."""
    cfg = cfg.clone()
    cfg.DATALOADER.NUM_WORKERS = workers
    loader = build_reid_train_loader(cfg)
    it = iter(loader)
    t0 = time.perf_counter()
    next(it)  # start-up: worker spawn and the first batch
    startup = time.perf_counter() - t0
    n, t0 = 0, time.perf_counter()
    for _ in range(batches):
        n += next(it)["images"].shape[0]
    dt = time.perf_counter() - t0
    del it, loader
    return {"workers": workers, "images": n, "seconds": round(dt, 3), "images_per_s": round(n / dt, 1),
            "startup_s": round(startup, 3)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "fastreid-bench"),
                    help="dataset root; SyntheticReID is generated here on first use")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--batches", type=int, default=20, help="timed batches per setting")
    ap.add_argument("--batch", type=int, default=64, help="images per batch (P x 4)")
    ap.add_argument("--size", type=int, nargs=2, default=[256, 128], metavar=("H", "W"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads in the main process")
    ap.add_argument("--json", default="", help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    torch.set_num_threads(args.threads)

    cfg = get_cfg(plugins=True)
    cfg.DATASETS.ROOT = args.root
    cfg.DATASETS.NAMES = ("SyntheticReID",)
    cfg.SEED = 0
    cfg.SOLVER.IMS_PER_BATCH = args.batch
    cfg.DATALOADER.SAMPLER_TRAIN = "NaiveIdentitySampler"
    cfg.DATALOADER.NUM_INSTANCE = 4
    cfg.INPUT.SIZE_TRAIN = list(args.size)
    cfg.INPUT.FLIP.ENABLED = cfg.INPUT.PADDING.ENABLED = cfg.INPUT.REA.ENABLED = True

    rows: List[Dict[str, float]] = [measure(cfg, w, args.batches) for w in args.workers]
    base = rows[0]["images_per_s"]
    for r in rows:
        r["ratio_to_first"] = round(r["images_per_s"] / base, 2)
    machine = machine_summary()
    command = " ".join([os.path.basename(sys.argv[0])] + (argv if argv is not None else sys.argv[1:]))
    print(f"$ {command}")
    print(f"machine: {format_machine(machine)}")
    print(f"Train-loader throughput on SyntheticReID (synthetic, generated data), {args.size[0]}x{args.size[1]}, "
          f"batch {args.batch}, {args.batches} timed batches")
    print(tabulate([[r["workers"], r["images_per_s"], r["ratio_to_first"], r["startup_s"]] for r in rows],
                   headers=["workers", "images/s", "ratio", "startup s"], tablefmt="pipe"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": command, "machine": machine, "dataset": "SyntheticReID (synthetic)",
                       "size": args.size, "batch": args.batch, "results": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
