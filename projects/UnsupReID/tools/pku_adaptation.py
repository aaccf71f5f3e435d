#!/usr/bin/env python
"""Synthetic -> real adaptation and unsupervised learning on the PKU-Reid subset, seeded (issue 21).

Per backbone (MSINet ``msmt`` genotype, OSNet, ResNet-50; FBLNeck for all) and seed:

1. ``source``: supervised on the generated SyntheticReID (synthetic images), tested on the PKU-Reid
   subset's 34 test identities: **direct transfer**;
2. ``adapt``: clustering-based training (Cluster Contrast, projects/UnsupReID) on the 40 PKU training
   identities with their labels hidden, started from the source model: **adaptation**;
3. ``usl``: the same from scratch: **unsupervised learning**.

The supervised PKU rows (the ceiling) are the PKU comparison's (``results/pku_compare``: the same
architectures, head and recipe, 3 seeds). Every hyper-parameter is fixed in the YAMLs before any run
(Cluster Contrast's defaults; the supervised learning rates chosen on a PKU validation split of the
training identities, ``results/pku_compare/tune/chosen.json``); the test split is read only by each
run's final evaluation.

    python projects/UnsupReID/tools/pku_adaptation.py --output results/unsup_pku --seeds 3

Rerunning the command skips finished runs and resumes an interrupted one from its last epoch, so the
experiment may be stopped (Ctrl-C) and continued. Writes ``results.json`` and ``results.md`` (mean and
spread over seeds, Welch's t with degrees of freedom and p for the differences read) in OUTPUT.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from fastreid.utils.file_io import atomic_open
from fastreid.utils.stats import mean_std, welch

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "projects" / "UnsupReID" / "configs" / "PKUReIDSubset"
BACKBONES = ("msinet", "osnet", "resnet50")
ROWS = ("direct", "adapt", "usl")
ROW_NAMES = {"direct": "direct transfer (synthetic source)", "adapt": "clustering adaptation from the source",
             "usl": "unsupervised from scratch", "supervised": "supervised on PKU (ceiling, results/pku_compare)"}
METRICS = ("mAP", "Rank-1", "Rank-5", "mINP")
# FBLNeck's part branch reads ResNet-50's layer3 (as in the PKU comparison)
EXTRA = {"resnet50": ["MODEL.MSINET.PART_FEATURE", "layer3"]}
COMPARE = REPO / "results" / "pku_compare"

logger = logging.getLogger("pku_adaptation")


def _final_metrics(run_dir: Path) -> Optional[Dict[str, float]]:
    """The last evaluation a run wrote into metrics.json (None before it evaluated)."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    evals = [r for r in records if "mAP" in r]
    return {k: float(evals[-1][k]) for k in METRICS} if evals else None


class RunFailed(RuntimeError):
    """A run stopped with a one-line error (e.g. a clustering round that put every image in one cluster)."""


def _run(cmd: List[str], run_dir: Path, log_name: str = "driver_log.txt") -> float:
    """Run ``cmd`` (its output into run_dir/log_name); returns the wall seconds; raises RunFailed with
    the run's ``error:`` line when it stops with one."""
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(run_dir / log_name, "a") as log:
        proc = subprocess.run(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        errors = [ln for ln in (run_dir / log_name).read_text().splitlines() if ln.startswith("error: ")]
        if errors:
            raise RunFailed(errors[-1][len("error: "):])
        raise RuntimeError(f"run failed (exit {proc.returncode}): {' '.join(cmd)}; see {run_dir / log_name}")
    return time.perf_counter() - start


def _train(script: str, config: Path, run_dir: Path, overrides: Sequence[str]) -> Dict[str, Any]:
    """Train one run (resumed when it has a checkpoint); its result.json (metrics, seconds) is returned."""
    result_path = run_dir / "result.json"
    if result_path.is_file():
        return json.loads(result_path.read_text())
    flags = ["--resume"] if (run_dir / "last_checkpoint").is_file() else (
        ["--overwrite"] if run_dir.is_dir() and any(run_dir.iterdir()) else [])
    logger.info("%s %s", "resuming" if flags == ["--resume"] else "training", run_dir)
    try:
        seconds = _run([sys.executable, str(REPO / script), "--config-file", str(config), *flags, *overrides,
                        "OUTPUT_DIR", str(run_dir)], run_dir)
    except RunFailed as e:  # a measured outcome: recorded, and the experiment goes on
        result = {"failed": str(e)}
        with atomic_open(str(result_path)) as f:
            json.dump(result, f, indent=1)
        logger.info("%s: stopped: %s", run_dir, e)
        return result
    metrics = _final_metrics(run_dir)
    if metrics is None:
        raise RuntimeError(f"{run_dir}: finished without an evaluation in metrics.json")
    result = {**metrics, "seconds": seconds, "resumed": flags == ["--resume"]}
    with atomic_open(str(result_path)) as f:
        json.dump(result, f, indent=1)
    logger.info("%s: mAP %.1f, Rank-1 %.1f, %.0f s", run_dir, metrics["mAP"], metrics["Rank-1"], seconds)
    return result


def _datasets_root(output: Path, pku_root: Path) -> Path:
    """OUTPUT/datasets: a link to the PKU-Reid subset, and SyntheticReID generated there on first use."""
    root = output / "datasets"
    root.mkdir(parents=True, exist_ok=True)
    link = root / "pku-reid-subset"
    if not link.exists():
        target = (pku_root / "pku-reid-subset").resolve()
        if not (target / "images").is_dir():
            raise SystemExit(f"error: {target / 'images'} not found; expected the PKU-Reid subset (--pku-root)")
        link.symlink_to(target)
    return root


def run_all(output: Path, seeds: Sequence[int], backbones: Sequence[str], pku_root: Path) -> Dict[str, Any]:
    lrs = json.loads((COMPARE / "tune" / "chosen.json").read_text())["chosen_lr"]
    data = str(_datasets_root(output, pku_root))
    runs: Dict[str, Dict[str, Dict[int, Dict[str, Any]]]] = {r: {b: {} for b in backbones} for r in ROWS}
    for seed in seeds:  # seed-major: every backbone's first seed before any second seed
        for b in backbones:
            common = ["MODEL.BACKBONE.NAME", b, "SEED", str(seed), "DATASETS.ROOT", data, *EXTRA.get(b, [])]
            source_dir = output / "runs" / "source" / b / f"seed{seed}"
            runs["direct"][b][seed] = _train("tools/train_net.py", CONFIGS / "source_synthetic.yml", source_dir,
                                             [*common, "SOLVER.BASE_LR", str(lrs[b])])
            if "failed" in runs["direct"][b][seed]:
                continue
            runs["adapt"][b][seed] = _train(
                "projects/UnsupReID/train_net.py", CONFIGS / "adapt.yml", output / "runs" / "adapt" / b / f"seed{seed}",
                [*common, "MODEL.WEIGHTS", str(source_dir / "model_final.pth")])
            runs["usl"][b][seed] = _train("projects/UnsupReID/train_net.py", CONFIGS / "adapt.yml",
                                          output / "runs" / "usl" / b / f"seed{seed}", common)
            write_report(output, runs, backbones)
    return write_report(output, runs, backbones)


def _supervised_rows(backbones: Sequence[str]) -> Dict[str, Dict[int, Dict[str, float]]]:
    """The PKU comparison's supervised rows (msmt genotype for MSINet) as {backbone: {seed: metrics}}."""
    archs = json.loads((COMPARE / "results.json").read_text())["architectures"]
    names = {"msinet": "msmt", "osnet": "osnet", "resnet50": "resnet50"}
    out: Dict[str, Dict[int, Dict[str, float]]] = {}
    for b in backbones:
        a = archs[names[b]]
        out[b] = {s: {m: a[m]["per_seed"][i] for m in METRICS if m in a} for i, s in enumerate(a["seeds"])}
    return out


def write_report(output: Path, runs, backbones: Sequence[str]) -> Dict[str, Any]:
    rows = dict(runs)
    rows["supervised"] = _supervised_rows(backbones)
    summary: Dict[str, Any] = {"rows": {}, "tests": []}
    for row, per_b in rows.items():
        summary["rows"][row] = {}
        for b, all_seeds in per_b.items():
            per_seed = {s: r for s, r in all_seeds.items() if "failed" not in r}
            failed = {s: r["failed"] for s, r in all_seeds.items() if "failed" in r}
            if failed:
                summary.setdefault("failed", {}).setdefault(row, {})[b] = failed
            if per_seed:
                stats = {m: {**mean_std([r[m] for r in per_seed.values()]),
                             "per_seed": [per_seed[s][m] for s in sorted(per_seed)]} for m in ("mAP", "Rank-1")}
                stats["seeds"] = sorted(per_seed)
                summary["rows"][row][b] = stats

    def values(row, b):
        return [r["mAP"] for s, r in sorted(rows[row].get(b, {}).items()) if "failed" not in r]

    for b in backbones:  # does adaptation beat direct transfer? and how far from the ceiling?
        for row, ref in (("adapt", "direct"), ("usl", "direct"), ("adapt", "supervised")):
            test = welch(values(row, b), values(ref, b))
            if test:
                summary["tests"].append({"what": f"{b}: {row} - {ref}", "metric": "mAP", **test})
    for row in ("direct", "adapt", "usl"):  # does MSINet beat the others?
        for other in backbones:
            if other != "msinet" and "msinet" in backbones:
                test = welch(values(row, "msinet"), values(row, other))
                if test:
                    summary["tests"].append({"what": f"{row}: msinet - {other}", "metric": "mAP", **test})
    with atomic_open(str(output / "results.json")) as f:
        json.dump(summary, f, indent=1)
    with atomic_open(str(output / "results.md")) as f:
        f.write(markdown(summary, backbones))
    return summary


def markdown(summary: Dict[str, Any], backbones: Sequence[str]) -> str:
    lines = ["| PKU-Reid subset test (34 identities), mAP / Rank-1, mean +- std (seeds) | "
             + " | ".join(backbones) + " |", "|---|" + "---|" * len(backbones)]
    for row in ("direct", "adapt", "usl", "supervised"):
        cells = []
        for b in backbones:
            s = summary["rows"].get(row, {}).get(b)
            failed = summary.get("failed", {}).get(row, {}).get(b, {})
            cell = "-" if s is None else (f"{s['mAP']['mean']:.1f} +- {s['mAP']['std']:.1f} / "
                                          f"{s['Rank-1']['mean']:.1f} ({len(s['seeds'])})")
            cells.append(cell + (f"; stopped: seed {', '.join(map(str, sorted(failed)))}" if failed else ""))
        lines.append(f"| {ROW_NAMES[row]} | " + " | ".join(cells) + " |")
    lines += ["", "| difference (mAP) | diff | Welch t | df | p |", "|---|---|---|---|---|"]
    lines += [f"| {t['what']} | {t['diff']:+.1f} | {t['t']:.2f} | {t['df']:.1f} | {t['p']:.3f} |"
              for t in summary["tests"]]
    stopped = [f"- {row}, {b}, seed {s}: {msg}" for row, per_b in summary.get("failed", {}).items()
               for b, per_seed in per_b.items() for s, msg in sorted(per_seed.items())]
    if stopped:
        lines += ["", "Runs that stopped with an error (a measured outcome of the recipe):", *stopped]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--output", default="results/unsup_pku", help="experiment folder (rerun to continue)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    ap.add_argument("--backbones", default=",".join(BACKBONES), help="comma-separated, of " + ", ".join(BACKBONES))
    ap.add_argument("--pku-root", default=str(REPO.parent / "shared" / "data"),
                    help="folder holding pku-reid-subset/ (default: ../shared/data beside the repository)")
    args = ap.parse_args(argv)
    backbones = [b for b in args.backbones.split(",") if b]
    unknown = [b for b in backbones if b not in BACKBONES]
    if unknown:
        ap.error(f"--backbones: {', '.join(unknown)} unknown; expected some of {', '.join(BACKBONES)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    summary = run_all(Path(args.output).resolve(), range(args.seeds), backbones, Path(args.pku_root))
    print((Path(args.output) / "results.md").read_text())
    return 0 if summary else 1


if __name__ == "__main__":
    sys.exit(main())
