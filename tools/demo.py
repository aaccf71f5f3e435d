#!/usr/bin/env python
"""The `make demo` pipeline on the generated (synthetic) SyntheticReID dataset.

Steps, each logged with the command a user would type to run it alone:
1. generate SyntheticReID (synthetic pedestrians rendered by this project, Market-1501 layout);
2. a short MSINet architecture search (TCM, twin memories) -> genotype.yaml, alphas.png, and how far
   softmax(alpha) has separated (best minus second-best option of each interaction module);
3. train MSINet with the searched genotype; 4. MSINet with a random genotype; 5. OSNet: all three with
   the same head, recipe and seed;
6. evaluate them next to an untrained MSINet, print the table, and write a ranked-list image and a
   training-curve plot.

Everything lands in ``--output`` (default ``demo_output/``). The numbers are on synthetic images and say
nothing about real-data accuracy; see README for the real-data benchmark.

    python tools/demo.py --output demo_output
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
SEARCH_CFG = "projects/MSINet/configs/Search/synthetic_demo.yml"
MSINET_CFG = "projects/MSINet/configs/Demo/msinet_synthetic.yml"
OSNET_CFG = "projects/MSINet/configs/Demo/osnet_synthetic.yml"
STEPS = 6

logger = logging.getLogger("demo")


def load_cfg(config_file: str, overrides: List[str]):
    from fastreid.config import load_config

    return load_config(str(REPO / config_file), overrides)


def start(cfg) -> None:
    """Claim the step's folder as a training run would; the demo's folder is the demo's own, so a
    rerun of the demo replaces its earlier results."""
    from fastreid.engine import start_run

    start_run(cfg, overwrite=True)


def step(title: str, script: str, config_file: str, overrides: List[str]) -> None:
    logger.info("=" * 100)
    logger.info("%s\n    same as: python %s --config-file %s %s", title, script, config_file, " ".join(overrides))


def run_search(out: Path, common: List[str]) -> Path:
    from msinet.search_trainer import SearchTrainer

    overrides = common + ["OUTPUT_DIR", str(out / "search")]
    step(f"[2/{STEPS}] Architecture search (MSI supernet, Twins Contrastive Mechanism)",
         "projects/MSINet/train_net.py", SEARCH_CFG, overrides)
    cfg = load_cfg(SEARCH_CFG, overrides)
    start(cfg)
    SearchTrainer(cfg).train()
    genotype = out / "search" / "genotype.yaml"
    if not genotype.is_file():
        raise RuntimeError(f"the search finished without writing {genotype}")
    for name in ("genotype.yaml", "alphas.png", "alphas.json"):
        if (out / "search" / name).is_file():
            shutil.copy(out / "search" / name, out / name)
    report_separation(out / "search" / "alphas.json")
    return genotype


def alpha_margins(alphas_json: Path) -> List[float]:
    """Per interaction module, the final softmax(alpha) of the best option minus the second best."""
    last = json.loads(alphas_json.read_text())["softmax_alpha"][-1]
    return [sorted(row)[-1] - sorted(row)[-2] for row in last]


def report_separation(alphas_json: Path) -> None:
    margins = alpha_margins(alphas_json)
    logger.info("softmax(alpha) separation after the search (best - second best per IM, uniform start = 0): "
                "min %.3f, mean %.3f, max %.3f; %d of %d IMs above 0.02. 'none' and 'attention' stay close "
                "because attention starts as the identity (gamma = 0).", min(margins),
                sum(margins) / len(margins), max(margins), sum(m > 0.02 for m in margins), len(margins))


def run_training(name: str, config_file: str, overrides: List[str], index: int) -> Dict[str, float]:
    from fastreid.engine import DefaultTrainer

    script = "projects/MSINet/train_net.py" if "MSINet" in name else "tools/train_net.py"
    step(f"[{index}/{STEPS}] Train {name}", script, config_file, overrides)
    cfg = load_cfg(config_file, overrides)
    start(cfg)
    trainer = DefaultTrainer(cfg)
    t0 = time.perf_counter()
    results = trainer.train()
    return {**{k: float(results[k]) for k in ("Rank-1", "Rank-5", "mAP", "mINP")},
            "train_seconds": time.perf_counter() - t0, "output_dir": cfg.OUTPUT_DIR}


def evaluate_untrained(config_file: str, overrides: List[str]) -> Dict[str, float]:
    from fastreid.config import fill_num_classes
    from fastreid.engine import DefaultTrainer
    from fastreid.utils.env import seed_all_rng

    cfg = fill_num_classes(load_cfg(config_file, overrides), 1, "no training (the classifier is unused at test time)")
    seed_all_rng(cfg.SEED)  # the same random weights on every run
    model = DefaultTrainer.build_model(cfg)
    res = DefaultTrainer.test(cfg, model)
    return {k: float(res[k]) for k in ("Rank-1", "Rank-5", "mAP", "mINP")}


def plot_curves(runs: Dict[str, str], path: Path) -> None:
    """Training loss and evaluation mAP over iterations for each run, from its metrics.json."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_map) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, out_dir in runs.items():
        rows = [json.loads(line) for line in open(os.path.join(out_dir, "metrics.json")) if line.strip()]
        loss = [(r["iteration"], r["total_loss"]) for r in rows if "total_loss" in r]
        maps = [(r["iteration"], r[k]) for r in rows for k in r if k.endswith("mAP")]
        if loss:
            ax_loss.plot(*zip(*loss), label=name)
        if maps:
            ax_map.plot(*zip(*maps), marker="o", label=name)
    ax_loss.set(title="training loss (synthetic data)", xlabel="iteration", ylabel="total loss")
    ax_map.set(title="test mAP (synthetic data)", xlabel="iteration", ylabel="mAP (%)")
    for ax in (ax_loss, ax_map):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_ranks(config_file: str, weights: str, overrides: List[str], out: Path) -> None:
    from fastreid.engine.cli import load_cfg
    from fastreid.engine.predictor import DefaultPredictor
    from fastreid.evaluation.ranked_lists import write_ranked_lists

    predictor = DefaultPredictor(load_cfg(str(REPO / config_file), weights, overrides))
    found = predictor.run_on_dataset("SyntheticReID")
    write_ranked_lists(found.features.numpy(), found.paths, found.pids, found.camids, found.num_query,
                       str(out / "ranked_lists"), num_vis=4, topk=8, size_hw=(128, 64))


def table(rows: Dict[str, Dict[str, float]]) -> str:
    from fastreid.utils.report import markdown_table

    header = ["model (SyntheticReID, synthetic data)", "Rank-1", "Rank-5", "mAP", "mINP", "train time"]
    return markdown_table(header, [
        [name, f"{r['Rank-1']:.1f}", f"{r['Rank-5']:.1f}", f"{r['mAP']:.1f}", f"{r['mINP']:.1f}",
         f"{r['train_seconds']:.0f} s" if "train_seconds" in r else "-"] for name, r in rows.items()])


def main(argv=None) -> Dict[str, Dict[str, float]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output", default="demo_output", help="folder for every result of the demo")
    p.add_argument("--skip-search", action="store_true", help="train the paper's msmt genotype instead")
    args = p.parse_args(argv)

    from fastreid.data import build_dataset
    from fastreid.utils.logger import setup_logger

    out = Path(args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name in ("fastreid", "msinet"):
        setup_logger(str(out), name=name)
    setup_logger(str(out), name="demo")
    setup_logger(str(out), name="visualize_ranks")
    t_start = time.perf_counter()
    common = ["DATASETS.ROOT", str(out / "datasets")]

    logger.info(f"[1/{STEPS}] Generating SyntheticReID: SYNTHETIC pedestrians rendered by this project (not real people)\n"
                "    same as: python tools/generate_synthetic.py --help")
    cfg = load_cfg(OSNET_CFG, common + ["OUTPUT_DIR", str(out)])
    build_dataset(cfg, "SyntheticReID")

    genotype = "msmt" if args.skip_search else str(run_search(out, common))
    searched = "MSINet (msmt genotype)" if args.skip_search else "MSINet (searched genotype)"
    rows: Dict[str, Dict[str, float]] = {}
    msinet_over = common + ["MODEL.MSINET.GENOTYPE", genotype, "OUTPUT_DIR", str(out / "msinet")]
    random_over = common + ["MODEL.MSINET.GENOTYPE", "random", "MODEL.MSINET.SEED", "1",
                            "OUTPUT_DIR", str(out / "msinet_random")]
    osnet_over = common + ["OUTPUT_DIR", str(out / "osnet")]
    rows[searched] = run_training(searched, MSINET_CFG, msinet_over, 3)
    rows["MSINet (random genotype, seed 1)"] = run_training("MSINet (random genotype)", MSINET_CFG, random_over, 4)
    rows["OSNet"] = run_training("OSNet", OSNET_CFG, osnet_over, 5)
    logger.info("[%d/%d] Evaluating an untrained MSINet (random weights) for reference", STEPS, STEPS)
    rows["MSINet untrained"] = evaluate_untrained(MSINET_CFG, msinet_over[:-1] + [str(out / "untrained")])

    plot_curves({k: r["output_dir"] for k, r in rows.items() if "output_dir" in r}, out / "training_curves.png")
    draw_ranks(MSINET_CFG, str(out / "msinet" / "model_final.pth"), msinet_over, out)
    report = table(rows)
    (out / "results.md").write_text(report + "\n")
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    logger.info("Demo results on SYNTHETIC data (generated images; not a real-data benchmark):\n%s", report)
    gain = rows[searched]["mAP"] - rows["MSINet untrained"]["mAP"]
    logger.info("Trained MSINet mAP is %.1f points above the untrained network's. Outputs in %s: genotype.yaml, "
                "alphas.png, training_curves.png, ranked_lists/, results.md. Total %.0f s.",
                gain, out, time.perf_counter() - t_start)
    return rows


if __name__ == "__main__":
    main()
