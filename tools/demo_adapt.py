#!/usr/bin/env python
"""`make demo-adapt`: learning from unlabelled images, between two generated (synthetic) domains.

1. generate SyntheticReID ("day") and SyntheticDusk ("dusk": the same generator rendered darker, with a
   warm cast, faded colours and other cameras, and other people) - synthetic images, no real person;
2. train MSINet with labels on day and test it on dusk: **direct transfer**;
3. adapt it to dusk without dusk's labels (clustering rounds give pseudo-labels, Cluster Contrast as
   published; projects/UnsupReID) and test it on dusk again;
4. adapt it again with the clustered features camera-normalised (UNSUP.CLUSTER.CAMERA_NORM: each
   image's feature minus its camera's mean): **adapted**. Step 3's rounds show why: its clusters hold
   one camera each (the label-free "main-camera share" near 1), so they follow cameras, not people;
5. write ``results.json`` (``direct_transfer``, ``adapted`` and ``adapted_without_camera_norm``, each with
   ``mAP`` and ``rank1``), ``results.md``, and ``clustering.png`` (the camera-normalised run's rounds:
   pseudo-label quality against the hidden labels, and the main-camera share).

    python tools/demo_adapt.py --output demo_adapt_output

Each step logs the command that runs it alone. The numbers are on synthetic images and say nothing
about real data; projects/UnsupReID/README.md has the real-data experiment.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
SOURCE_CFG = "projects/UnsupReID/configs/Demo/source_day.yml"
ADAPT_CFG = "projects/UnsupReID/configs/Demo/adapt_dusk.yml"
METRICS = {"mAP": "mAP", "rank1": "Rank-1", "rank5": "Rank-5", "mINP": "mINP"}

logger = logging.getLogger("demo_adapt")


def load_cfg(config_file: str, overrides: List[str]):
    from fastreid.config import load_config

    return load_config(str(REPO / config_file), overrides)


def announce(title: str, script: str, config_file: str, overrides: List[str]) -> None:
    logger.info("=" * 100)
    logger.info("%s\n    same as: python %s --config-file %s %s", title, script, config_file, " ".join(overrides))


def metrics(results: Dict) -> Dict[str, float]:
    return {ours: float(results[theirs]) for ours, theirs in METRICS.items()}


def train_source(out: Path, common: List[str]) -> Dict[str, float]:
    from fastreid.engine import DefaultTrainer, start_run

    overrides = common + ["OUTPUT_DIR", str(out / "source")]
    announce("[2/4] Train MSINet with labels on day; test on dusk (direct transfer)", "tools/train_net.py",
             SOURCE_CFG, overrides)
    cfg = load_cfg(SOURCE_CFG, overrides)
    start_run(cfg, overwrite=True)  # the demo's folder is its own: a rerun replaces it
    start = time.perf_counter()
    result = metrics(DefaultTrainer(cfg).train())
    return {**result, "train_seconds": time.perf_counter() - start}


def adapt(out: Path, common: List[str], camera_norm: bool) -> Dict[str, float]:
    from fastreid.engine import start_run
    from unsupreid import ClusterTrainer, check_unsup_cfg

    folder = "adapt" if camera_norm else "adapt_without_camera_norm"
    overrides = common + ["MODEL.WEIGHTS", str(out / "source" / "model_final.pth"), "UNSUP.CLUSTER.CAMERA_NORM",
                          str(camera_norm), "OUTPUT_DIR", str(out / folder)]
    step = "[4/4] Adapt again, clustering features minus their camera's mean" if camera_norm else \
        "[3/4] Adapt to dusk without its labels (clustering rounds, Cluster Contrast as published); test on dusk"
    announce(step, "projects/UnsupReID/train_net.py", ADAPT_CFG, overrides)
    cfg = load_cfg(ADAPT_CFG, overrides)
    check_unsup_cfg(cfg)
    start_run(cfg, overwrite=True)
    start = time.perf_counter()
    trainer = ClusterTrainer(cfg)
    trainer.resume_or_load(resume=False)
    result = metrics(trainer.train())
    return {**result, "train_seconds": time.perf_counter() - start, "rounds": trainer.pseudo_labels.history}


NAMES = {"direct_transfer": "direct transfer (trained on day with labels)",
         "adapted_without_camera_norm": "adapted without dusk's labels (Cluster Contrast as published)",
         "adapted": "adapted without dusk's labels, clustering camera-normalised features"}


def report(rows: Dict[str, Dict]) -> str:
    lines = ["| MSINet on SyntheticDusk (synthetic data) | mAP | Rank-1 | Rank-5 | mINP | train time |",
             "|---|---|---|---|---|---|"]
    for key, r in rows.items():
        lines.append(f"| {NAMES[key]} | {r['mAP']:.1f} | {r['rank1']:.1f} | {r['rank5']:.1f} | {r['mINP']:.1f} | "
                     f"{r['train_seconds']:.0f} s |")
    for key in ("adapted_without_camera_norm", "adapted"):
        lines += ["", f"Clustering rounds, {NAMES[key]}:", "",
                  "| epoch | clusters | left out | main-camera share (label-free) | NMI | ARI | pairwise precision "
                  "| recall |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['epoch']} | {r['clusters']} | {100 * r['outlier_ratio']:.0f}% | {r['camera_share']:.2f} | "
                  f"{r['nmi']:.3f} | {r['ari']:.3f} | {r['pairwise_precision']:.3f} | {r['pairwise_recall']:.3f} |"
                  for r in rows[key]["rounds"]]
    return "\n".join(lines)


def main(argv=None) -> Dict[str, Dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output", default="demo_adapt_output", help="folder for every result of the demo")
    args = p.parse_args(argv)

    from fastreid.data import build_dataset
    from fastreid.utils.logger import setup_logger

    out = Path(args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name in ("fastreid", "msinet", "unsupreid", "demo_adapt"):
        setup_logger(str(out), name=name)
    t_start = time.perf_counter()
    common = ["DATASETS.ROOT", str(out / "datasets")]

    logger.info("[1/4] Generating SyntheticReID (day) and SyntheticDusk (dusk): SYNTHETIC pedestrians rendered by "
                "this project, not real people\n    same as: python tools/generate_synthetic.py --output "
                "%s/datasets/SyntheticDusk --domain dusk", out)
    cfg = load_cfg(SOURCE_CFG, common)
    for name in ("SyntheticReID", "SyntheticDusk"):
        build_dataset(cfg, name)

    rows = {"direct_transfer": train_source(out, common)}
    rows["adapted_without_camera_norm"] = adapt(out, common, camera_norm=False)
    rows["adapted"] = adapt(out, common, camera_norm=True)
    if (out / "adapt" / "clustering.png").is_file():
        shutil.copy(out / "adapt" / "clustering.png", out / "clustering.png")
    text = report(rows)
    (out / "results.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    gain = rows["adapted"]["mAP"] - rows["direct_transfer"]["mAP"]
    logger.info("Demo results on SYNTHETIC data (generated images; not a real-data benchmark):\n%s", text)
    logger.info("Adaptation without target labels: %+.1f mAP over direct transfer. Outputs in %s: results.md, "
                "results.json, clustering.png. Total %.0f s.", gain, out, time.perf_counter() - t_start)
    return rows


if __name__ == "__main__":
    main()
