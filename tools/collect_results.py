#!/usr/bin/env python
"""Collect the evaluation results of training runs into one markdown table, next to the paper's
numbers for the same rows (MSINet, CVPR 2023, Table 2).

Each run folder is an OUTPUT_DIR written by ``tools/train_net.py`` or ``projects/MSINet/train_net.py``:
``config.yaml`` says what was trained (backbone, genotype, SAM, ImageNet start, train / test sets);
the results are the last evaluation in ``metrics.json`` or, for ``--eval-only`` runs, the last results
table printed into ``log.txt``. Folders are searched recursively::

    python tools/collect_results.py logs/                 # every run under logs/
    python tools/collect_results.py logs/a logs/b --json results.json

A row gets paper numbers when the paper has that model, initialisation and train -> test pair;
otherwise its paper cells are "-". VehicleID rows compare Rank-5, as the paper reports no mAP there.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
from typing import Dict, List, Optional, Tuple

import yaml

from fastreid.engine.cli import ToolError, cli_errors, setup_logging
from fastreid.utils.file_io import atomic_open

logger = logging.getLogger("fastreid.tools.collect_results")

# Paper Table 2: (model, init) -> task -> (Rank-1, mAP) in %; for VID tasks the pair is (Rank-1, Rank-5).
PAPER_TABLE2: Dict[Tuple[str, str], Dict[str, Tuple[float, float]]] = {
    ("ResNet50", "scratch"): {"M": (85.7, 68.3), "MS": (48.0, 25.7), "VR": (92.8, 69.9), "VID": (70.6, 76.6)},
    ("OSNet", "scratch"): {"M": (93.6, 81.0), "MS": (71.0, 43.3), "VR": (95.4, 72.8), "VID": (76.0, 88.7)},
    ("MSINet", "scratch"): {"M": (94.6, 87.0), "MS": (76.0, 52.5), "VR": (95.9, 75.0), "VID": (76.5, 89.8)},
    ("ResNet50", "imagenet"): {"M": (94.5, 85.9), "MS": (75.5, 50.4), "VR": (94.5, 73.6), "VID": (76.5, 89.9),
                               "MS->M": (58.8, 31.8), "VR->VID": (42.8, 61.9)},
    ("OSNet", "imagenet"): {"M": (94.8, 84.9), "MS": (78.7, 52.9), "VR": (95.5, 76.4), "VID": (76.0, 88.6),
                            "MS->M": (66.6, 37.5), "VR->VID": (46.5, 63.1)},
    ("MSINet", "imagenet"): {"M": (95.3, 89.6), "MS": (81.0, 59.6), "VR": (96.8, 78.8), "VID": (77.9, 91.7),
                             "MS->M": (74.9, 46.2), "VR->VID": (48.0, 65.6)},
    ("MSINet-SAM", "imagenet"): {"M": (95.5, 89.9), "MS": (80.7, 59.5), "VR": (96.7, 79.0), "VID": (78.0, 91.9),
                                 "MS->M": (76.3, 48.4), "VR->VID": (49.0, 66.8)},
}

# Registered dataset names (lower case) -> the paper's short names.
DATASET_CODES = {
    "market1501": "M", "msmt17": "MS", "veri": "VR", "veri776": "VR",
    "vehicleid": "VID", "smallvehicleid": "VID", "mediumvehicleid": "VID", "largevehicleid": "VID",
}
METRICS = ("Rank-1", "Rank-5", "mAP", "mINP")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Print a markdown table of Rank-1 / mAP of training runs next to the paper's Table 2.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="run folders (OUTPUT_DIR) or folders above them")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--output", metavar="FILE", help="also write the markdown table to this file")
    return parser


def find_runs(paths: List[str]) -> List[str]:
    """Every folder at or below ``paths`` holding a ``config.yaml``, sorted."""
    runs = set()
    for path in paths:
        if not os.path.isdir(path):
            raise ToolError(f"run folder not found: {path}")
        for root, _dirs, files in os.walk(path):
            if "config.yaml" in files:
                runs.add(root)
    if not runs:
        raise ToolError(f"no run folder (with config.yaml) under {paths}")
    return sorted(runs)


def _get(cfg: dict, dotted: str, default=None):
    node = cfg
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def _names(value) -> List[str]:
    if isinstance(value, str):  # yacs dumps tuples as lists, but a hand-written file may hold "(a, b)"
        value = [v.strip(" '\"") for v in value.strip("()[] ").split(",") if v.strip(" '\"")]
    return [str(v) for v in (value or [])]


def describe_run(cfg: dict) -> Tuple[str, str, List[str]]:
    """(model label, init "scratch"/"imagenet", training set names) from a run's config.yaml."""
    backbone = str(_get(cfg, "MODEL.BACKBONE.NAME", "?")).lower()
    losses = _names(_get(cfg, "MODEL.LOSSES.NAME", []))
    if backbone == "msinet":
        genotype = _get(cfg, "MODEL.MSINET.GENOTYPE", "msmt")
        model = "MSINet" if genotype in ("msmt", None) else f"MSINet ({genotype if isinstance(genotype, str) else 'custom'})"
        if "SpatialAlignLoss" in losses:
            model += "-SAM"
    else:
        model = {"resnet50": "ResNet50", "osnet": "OSNet"}.get(backbone, backbone)
    init = "imagenet" if _get(cfg, "MODEL.BACKBONE.PRETRAIN", False) else "scratch"
    return model, init, _names(_get(cfg, "DATASETS.NAMES", []))


def task_code(train: List[str], test: str) -> Optional[str]:
    """The paper's column for a train -> test pair ("M", "MS->M", ...) or None."""
    te = DATASET_CODES.get(test.lower())
    tr = [DATASET_CODES.get(n.lower()) for n in train]
    if te is None or len(tr) != 1 or tr[0] is None:
        return None
    return te if tr[0] == te else f"{tr[0]}->{te}"


def results_from_metrics(path: str, tests: List[str]) -> Dict[str, Dict[str, float]]:
    """The last evaluation in metrics.json: {test set: {metric: value}} ("" when results are unnamed)."""
    last: Dict[str, Dict[str, float]] = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a killed run
            found: Dict[str, Dict[str, float]] = {}
            for key, value in record.items():
                name, _, metric = key.rpartition("/")
                if metric in METRICS:
                    found.setdefault(name or (tests[0] if len(tests) == 1 else ""), {})[metric] = float(value)
            if found:
                last = found
    return last


_TABLE_HEADER = re.compile(r"\|\s*Dataset\s*\|(.*)\|\s*$")


def results_from_log(path: str) -> Dict[str, Dict[str, float]]:
    """The last results table printed into log.txt (``print_csv_format``'s pipe table)."""
    last: Dict[str, Dict[str, float]] = {}
    columns: List[str] = []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            header = _TABLE_HEADER.search(line)
            if header:
                columns, last = [c.strip() for c in header.group(1).split("|")], {}
            elif columns and line.startswith("|-"):
                continue
            elif columns and line.startswith("|") and line.count("|") == len(columns) + 2:
                cells = [c.strip() for c in line.strip("|").split("|")]
                last[cells[0]] = {c: float(v) for c, v in zip(columns, cells[1:]) if _is_number(v)}
            else:
                columns = []
    return last


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def collect(run: str) -> List[dict]:
    """One row per test set of a run folder."""
    with open(os.path.join(run, "config.yaml")) as f:
        cfg = yaml.safe_load(f) or {}
    model, init, train = describe_run(cfg)
    tests = _names(_get(cfg, "DATASETS.TESTS", []))
    results: Dict[str, Dict[str, float]] = {}
    if os.path.isfile(os.path.join(run, "metrics.json")):
        results = results_from_metrics(os.path.join(run, "metrics.json"), tests)
    if not results and os.path.isfile(os.path.join(run, "log.txt")):
        results = results_from_log(os.path.join(run, "log.txt"))
    if not results:
        logger.warning("%s: no evaluation results in metrics.json or log.txt; skipped", run)
        return []
    rows = []
    for test, metrics in results.items():
        task = task_code(train, test) if test else None
        paper = PAPER_TABLE2.get((model, init), {}).get(task) if task else None
        is_vid = bool(task) and task.endswith("VID")
        rows.append({
            "run": run, "model": model, "init": init, "train": "+".join(train), "test": test or "-",
            "task": task, **{m: metrics.get(m) for m in METRICS},
            "paper_rank1": paper[0] if paper else None,
            "paper_map": paper[1] if paper and not is_vid else None,
            "paper_rank5": paper[1] if paper and is_vid else None,
        })
    return rows


def markdown(rows: List[dict]) -> str:
    """The table; Rank-5 columns appear only when a row has a paper Rank-5 (VehicleID)."""
    with_r5 = any(r["paper_rank5"] is not None for r in rows)

    def num(v) -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"

    head = ["run", "model", "init", "train -> test", "Rank-1", "mAP"] + (["Rank-5"] if with_r5 else [])
    head += ["paper Rank-1", "paper mAP"] + (["paper Rank-5"] if with_r5 else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["run"], r["model"], r["init"], f"{r['train']} -> {r['test']}", num(r["Rank-1"]), num(r["mAP"])]
        cells += [num(r["Rank-5"])] if with_r5 else []
        cells += [num(r["paper_rank1"]), num(r["paper_map"])] + ([num(r["paper_rank5"])] if with_r5 else [])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@cli_errors
def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    setup_logging()
    rows = [row for run in find_runs(args.dirs) for row in collect(run)]
    if not rows:
        raise ToolError(f"no evaluation results found under {args.dirs}")
    table = markdown(rows)
    print(table)
    if args.output:
        with atomic_open(args.output) as f:
            f.write(table + "\n")
    if args.json:
        with atomic_open(args.json) as f:
            json.dump(rows, f, indent=1)
    logger.info("%d rows from %d runs", len(rows), len({r["run"] for r in rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
