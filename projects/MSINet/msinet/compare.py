"""The paper's Figure 5 (b) as an experiment: is the searched genotype better than chance?

One recipe (a training YAML) trains every candidate over several seeds and each is evaluated once on
the test split of the recipe's data set:

- ``searched``: the genotype found by the Twins Contrastive search with the same seed (a search per
  seed, on the search's own identity split of the *training* identities, never on the test split);
- ``msmt``: the paper's genotype (Table 1), ``random-k``: K genotypes drawn uniformly (fixed over
  seeds), ``none`` / ``exchange`` / ``gate`` / ``attention``: the four uniform genotypes;
- ``osnet`` and ``resnet50``: hand-designed backbones with the same head and recipe.

Optionally the learning rate of each backbone family (MSINet, OSNet, ResNet-50) is first chosen on a
validation split carved from the training identities (the held-out identities become query and
gallery; the test split is never seen). Everything reuses the toolbox: the SearchTrainer searches,
the DefaultTrainer trains and evaluates.

Output folder (every finished step is skipped when the same command runs again; an interrupted
training resumes from its last checkpoint)::

    DIR/search/seed<s>/        genotype.yaml, alphas.json, alphas.png of the search with seed s
    DIR/tune/<family>/lr<lr>/  learning-rate runs on the validation split (with --tune-lr)
    DIR/valid/split_seed<s>.csv  the validation split of seed s (with --on-validation)
    DIR/runs/<name>/seed<s>/   one training run; result.json once it is finished
    DIR/results.json|.md|.png  the summary, rewritten after every finished run
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from fastreid.utils.stats import welch

from .genotypes import NAMED_GENOTYPES, NUM_INTERACTIONS, random_genotype, resolve_genotype
from .interaction import OP_NAMES

__all__ = ["Candidate", "build_candidates", "search_agreement", "summarize", "welch_test", "exceeds_noise",
           "pairwise_tests", "markdown_report", "plot_results", "write_validation_split", "GenotypeComparison",
           "LEVEL"]

logger = logging.getLogger(__name__)

METRICS = ("Rank-1", "Rank-5", "mAP", "mINP")
FAMILIES = ("msinet", "osnet", "resnet50")
#: two rows' mean mAP differ beyond the seed noise when Welch's two-sided p is below this level
LEVEL = 0.05


@dataclass(frozen=True)
class Candidate:
    """One row of the comparison.

    Args:
        name: row label and folder name.
        backbone: ``msinet``, ``osnet`` or ``resnet50`` (also the learning-rate family).
        genotypes: MSINet only: one genotype for every seed, or one per seed (``searched``).
    """

    name: str
    backbone: str
    genotypes: Tuple[Tuple[str, ...], ...] = ()

    def genotype(self, seed_index: int) -> Optional[List[str]]:
        if not self.genotypes:
            return None
        return list(self.genotypes[seed_index if len(self.genotypes) > 1 else 0])


def build_candidates(searched: Sequence[Sequence[str]], num_random: int, random_seed: int = 1,
                     baselines: Sequence[str] = ("osnet", "resnet50")) -> List[Candidate]:
    """searched (one genotype per seed; empty = no search row), ``msmt``, ``num_random`` random
    genotypes (drawn with seeds ``random_seed``, ``random_seed + 1``, ...), the four uniform ones, then
    the hand-designed ``baselines``."""
    out: List[Candidate] = []
    if searched:
        out.append(Candidate("searched", "msinet", tuple(tuple(g) for g in searched)))
    out.append(Candidate("msmt", "msinet", (tuple(NAMED_GENOTYPES["msmt"]),)))
    for k in range(num_random):
        out.append(Candidate(f"random-{k + 1}", "msinet", (tuple(random_genotype(random_seed + k)),)))
    for op in OP_NAMES:
        out.append(Candidate(op, "msinet", (tuple(NAMED_GENOTYPES[op]),)))
    for b in baselines:
        if b not in FAMILIES[1:]:
            raise ValueError(f"baseline {b!r}: expected one of {', '.join(FAMILIES[1:])}")
        out.append(Candidate(b, b))
    return out


# ------------------------------------------------------------------------------ search agreement
def search_agreement(genotypes: Sequence[Sequence[str]],
                     softmax_alpha: Sequence[Sequence[Sequence[float]]] = ()) -> Dict[str, Any]:
    """How much the searches of different seeds agree.

    Returns ``unanimous`` (IMs where every seed picks the same op), ``pairwise`` (mean over seed pairs
    of the IMs where both pick the same op; None for one seed), their chance levels for uniformly random picks among the
    ops, the per-IM majority share, and (given each search's final softmax(alpha)) the mean and
    minimum margin between each IM's best and second-best option.
    """
    gs = [list(g) for g in genotypes]
    n = len(gs)
    per_im = list(zip(*gs)) if gs else []
    majority = [max(col.count(op) for op in set(col)) / n for col in per_im]
    out: Dict[str, Any] = {"seeds": n, "majority_share_per_im": majority}
    out.update(_agreement(gs, len(OP_NAMES)))
    # "attention" starts as the identity (gamma = 0), so early in a search it gets the gradient of
    # "none" and the two are told apart by their initial noise: also count them as one choice
    merged = [["none" if op == "attention" else op for op in g] for g in gs]
    out.update({f"{k}_attention_as_none": v for k, v in _agreement(merged, len(OP_NAMES) - 1).items()})
    if softmax_alpha:
        margins = []
        for sm in softmax_alpha:
            for row in sm:
                top = sorted(row, reverse=True)
                margins.append(top[0] - top[1])
        out["margin_mean"] = sum(margins) / len(margins)
        out["margin_min"] = min(margins)
        out["top_weight_mean"] = sum(max(row) for sm in softmax_alpha for row in sm) / sum(len(sm) for sm in softmax_alpha)
    return out


def _agreement(gs: Sequence[Sequence[str]], num_choices: int) -> Dict[str, Any]:
    """Unanimous and mean pairwise agreeing IMs of ``gs``, with their chance levels for uniform picks
    among ``num_choices`` options."""
    n = len(gs)
    unanimous = sum(1 for col in zip(*gs) if len(set(col)) == 1) if gs else 0
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    pairwise = (sum(sum(a == b for a, b in zip(gs[i], gs[j])) for i, j in pairs) / len(pairs)) if pairs else None
    return {"unanimous_ims": unanimous, "unanimous_chance": NUM_INTERACTIONS * num_choices ** (1 - n) if n else 0.0,
            "pairwise_agreeing_ims": pairwise, "pairwise_chance": NUM_INTERACTIONS / num_choices}


# ------------------------------------------------------------------------------ summary and report
def _mean_std(values: Sequence[float]) -> Tuple[float, float]:
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std


def summarize(candidates: Sequence[Candidate], runs: Mapping[str, Mapping[int, Mapping[str, Any]]],
              reference: Optional[str] = None, level: float = LEVEL) -> Dict[str, Any]:
    """Per candidate (in order): genotype(s), params and GMACs (of the first finished seed, and per
    seed: a searched row has one genotype per seed), per-seed metrics and mean / sample std over the
    finished seeds. ``runs[name][seed]`` is a run's result.json. With ``reference``, every other row
    also gets ``mAP_vs_reference``: Welch's test of its mAP against the reference row's
    (:func:`welch_test`, with ``reference`` and ``level``; None when untestable)."""
    out: Dict[str, Any] = {}
    for c in candidates:
        done = runs.get(c.name, {})
        seeds = sorted(done)
        row: Dict[str, Any] = {"backbone": c.backbone, "seeds": seeds,
                               "genotype": ([list(g) for g in c.genotypes] if len(c.genotypes) > 1
                                            else (list(c.genotypes[0]) if c.genotypes else None))}
        if seeds:
            first = done[seeds[0]]
            row["params"] = first["params"]
            row["gmacs"] = first["gmacs"]
            row["params_per_seed"] = [done[s]["params"] for s in seeds]
            row["gmacs_per_seed"] = [done[s]["gmacs"] for s in seeds]
            row["base_lr"] = first.get("base_lr")
        for m in METRICS + ("train_seconds",):
            vals = [float(done[s][m]) for s in seeds]
            mean, std = _mean_std(vals)
            row[m] = {"per_seed": vals, "mean": mean, "std": std}
        out[c.name] = row
    if reference is not None and reference in out:
        for name, row in out.items():
            if name != reference:
                test = welch_test(row, out[reference])
                row["mAP_vs_reference"] = (None if test is None
                                           else dict(test, reference=reference, level=level, metric="mAP"))
    return out


def welch_test(a: Mapping[str, Any], b: Mapping[str, Any], metric: str = "mAP") -> Optional[Dict[str, float]]:
    """Welch's t-test of row ``a``'s mean ``metric`` minus row ``b``'s over their seeds:
    ``{"diff", "t", "df", "p"}`` (two-sided p; :func:`fastreid.utils.stats.welch`); None with fewer
    than two seeds on either side or no spread on both. Reads only ``per_seed``, so rows of old
    results.json files are tested the same way."""
    return welch(a[metric]["per_seed"], b[metric]["per_seed"])


def exceeds_noise(a: Mapping[str, Any], b: Mapping[str, Any], metric: str = "mAP",
                  level: float = LEVEL) -> Optional[bool]:
    """True when the mean ``metric`` of rows ``a`` and ``b`` differ beyond the seed noise at ``level``:
    Welch's two-sided p below ``level``; None when untestable (see :func:`welch_test`)."""
    test = welch_test(a, b, metric)
    return None if test is None else test["p"] < level


def pairwise_tests(summary: Mapping[str, Any], metric: str = "mAP") -> List[Dict[str, Any]]:
    """Welch's test (:func:`welch_test`) of every pair of testable rows of the same backbone family
    (``a`` before ``b`` in row order), e.g. every pair of MSINet genotypes."""
    names = [n for n, r in summary.items() if len(r["seeds"]) > 1]
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if summary[a]["backbone"] != summary[b]["backbone"]:
                continue
            test = welch_test(summary[a], summary[b], metric)
            if test is not None:
                out.append(dict(test, a=a, b=b, backbone=summary[a]["backbone"]))
    return out


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _test_text(test: Mapping[str, float]) -> str:
    return f"{test['diff']:+.1f}, t = {test['t']:.2f}, df = {test['df']:.1f}, {_p(test['p'])}"


def _cell(stat: Mapping[str, Any]) -> str:
    """``mean ± std`` over seeds, or the single value."""
    if len(stat["per_seed"]) > 1:
        return f"{stat['mean']:.1f} ± {stat['std']:.1f}"
    return f"{stat['mean']:.1f}"


def _range(row: Mapping[str, Any], key: str, scale: float, fmt: str) -> str:
    """The row's value of ``key``, or its per-seed range where the seeds differ (a searched row has one
    genotype per seed); old results.json files have only the first seed's value."""
    vals = sorted({format(v / scale, fmt) for v in row.get(f"{key}_per_seed", [row[key]])}, key=float)
    return vals[0] if len(vals) == 1 else f"{vals[0]}-{vals[-1]}"


def markdown_report(summary: Mapping[str, Any], reference: str = "searched",
                    agreement: Optional[Mapping[str, Any]] = None, title: str = "",
                    level: float = LEVEL) -> str:
    """The results table (mean +- std over seeds); per row, Welch's test of its mAP against the
    ``reference`` row's (difference of means, t, degrees of freedom, two-sided p, and whether p is
    below ``level``); then, per backbone family with more than two testable rows, the pairs of rows
    whose mAP differ at ``level``. Works on the summary of an old results.json (tests are computed
    from the per-seed values)."""
    lines = [f"### {title}", ""] if title else []
    lines += ["| architecture | seeds | params | GMACs | LR | Rank-1 | mAP | mINP | train time | mAP vs "
              f"{reference}: difference, Welch t, df, p |", "|---|---|---|---|---|---|---|---|---|---|"]
    ref = summary.get(reference)
    tested = False
    for name, row in summary.items():
        n = len(row["seeds"])
        if n == 0:
            lines.append(f"| {name} | 0 | - | - | - | - | - | - | - | - |")
            continue

        verdict = "-"
        if ref is not None and name != reference and ref["seeds"]:
            test = welch_test(row, ref)
            tested = tested or test is not None
            if test is None:
                verdict = f"{row['mAP']['mean'] - ref['mAP']['mean']:+.1f} (untested: fewer than 2 seeds or no spread)"
            else:
                verdict = (f"{_test_text(test)} "
                           + (f"(beyond noise at p < {level:g})" if test["p"] < level else "(within noise)"))
        lr = f"{row['base_lr']:g}" if row.get("base_lr") is not None else "-"
        lines.append(f"| {name} | {n} | {_range(row, 'params', 1e6, '.2f')} M | {_range(row, 'gmacs', 1.0, '.2f')} | {lr} "
                     f"| {_cell(row['Rank-1'])} | {_cell(row['mAP'])} | {_cell(row['mINP'])} "
                     f"| {row['train_seconds']['mean'] / 60:.1f} min | {verdict} |")
    # pairs within a backbone family of three or more rows (with two, the one pair is the row against
    # the reference, or not worth a line)
    pairs = pairwise_tests(summary)
    families = {f: [t for t in pairs if t["backbone"] == f] for f in dict.fromkeys(t["backbone"] for t in pairs)}
    families = {f: tests for f, tests in families.items() if len({t[k] for t in tests for k in ("a", "b")}) >= 3}
    if tested or families:
        lines += ["", f"Noise test: Welch's t-test (unequal variances) of the mAP over seeds, two-sided; a difference "
                  f"is called beyond the seed noise at p < {level:g} and within it otherwise. At that level about 1 "
                  f"in {1 / level:.0f} tests of two rows with equal true means passes by chance."]
    for family, tests in families.items():
        hits = [t for t in tests if t["p"] < level]
        lines += ["", f"Every pair of {family} rows ({len(tests)} pairs): {len(hits)} differ at p < {level:g}"
                  + (": " + "; ".join(f"{t['a']} - {t['b']} {_test_text(t)}" for t in hits) if hits else "") + "."]
    if agreement and agreement["seeds"] > 1:
        lines += ["", f"Search agreement over {agreement['seeds']} seeds: {agreement['unanimous_ims']} of "
                  f"{NUM_INTERACTIONS} IMs pick the same op in every search (chance {agreement['unanimous_chance']:.2f}); "
                  f"two searches agree on {agreement['pairwise_agreeing_ims']:.1f} IMs on average (chance "
                  f"{agreement['pairwise_chance']:.1f})."
                  + (f" Counting 'attention' as 'none' (it starts as the identity): {agreement['unanimous_ims_attention_as_none']}"
                     f" unanimous (chance {agreement['unanimous_chance_attention_as_none']:.2f}), "
                     f"{agreement['pairwise_agreeing_ims_attention_as_none']:.1f} pairwise (chance "
                     f"{agreement['pairwise_chance_attention_as_none']:.1f}).")
                  + (f" Final softmax(alpha) margin best - second: mean {agreement['margin_mean']:.3f}, "
                     f"min {agreement['margin_min']:.3f}." if "margin_mean" in agreement else "")]
    return "\n".join(lines) + "\n"


def plot_results(summary: Mapping[str, Any], path: str, title: str = "") -> None:
    """Bars of mean Rank-1 and mAP per architecture with seed-std error bars and each seed as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, r in summary.items() if r["seeds"]]
    colours = {"msinet": "#4c72b0", "osnet": "#dd8452", "resnet50": "#55a868"}
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 1.1 * len(names) + 3), 4.2))
    for ax, metric in zip(axes, ("Rank-1", "mAP")):
        for i, n in enumerate(names):
            r = summary[n]
            colour = "#c44e52" if n == "searched" else colours.get(r["backbone"], "grey")
            ax.bar(i, r[metric]["mean"], yerr=r[metric]["std"], color=colour, alpha=0.85, capsize=4)
            ax.scatter([i] * len(r[metric]["per_seed"]), r[metric]["per_seed"], color="black", s=10, zorder=3)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title or "mean over seeds (bars), seed std (error bars), each seed (dots)", fontsize=10)
    fig.tight_layout()
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------ validation split
def write_validation_split(items: Sequence[Tuple[str, Any, Any]], ratio: float, path: str,
                           seed: int = 0) -> Dict[str, int]:
    """Carve a validation protocol out of training ``items`` ``(path, pid, camid)`` and write it as a
    ``CustomReID`` list (``path,pid,camid,split``).

    ``round(ratio * P)`` identities (at least one, drawn with ``seed``) are held out; each held-out
    identity seen by two or more cameras gives the images of its first camera as queries and the
    rest as gallery, one seen by a single camera goes to the gallery as a distractor. Returns counts.
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"validation ratio {ratio}: expected a fraction strictly between 0 and 1")
    pids = sorted({it[1] for it in items}, key=str)
    n_val = min(max(1, round(ratio * len(pids))), len(pids) - 1)
    held = set(random.Random(seed).sample(pids, n_val))
    by_pid: Dict[Any, List[Tuple[str, Any, Any]]] = {}
    for it in items:
        by_pid.setdefault(it[1], []).append(it)
    # training items carry dataset-prefixed labels ("pku_0"); the list wants integer camera ids
    cam_index = {c: i for i, c in enumerate(sorted({it[2] for it in items}, key=str))}
    rows, counts = [], {"train": 0, "query": 0, "gallery": 0, "train_ids": len(pids) - n_val, "valid_ids": n_val}
    for pid in pids:
        imgs = by_pid[pid]
        cams = sorted({c for _, _, c in imgs})
        for p, _, c in imgs:
            if pid not in held:
                split = "train"
            else:
                split = "query" if len(cams) > 1 and c == cams[0] else "gallery"
            counts[split] += 1
            rows.append((os.path.abspath(p), str(pid), cam_index[c], split))
    if counts["query"] == 0:
        raise ValueError("validation split: no held-out identity is seen by two cameras; expected cross-camera "
                         "identities to form queries")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    os.replace(tmp, path)
    return counts


# ------------------------------------------------------------------------------ the experiment
def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


class GenotypeComparison:
    """Runs the comparison described in the module docstring.

    Args:
        recipe: the training config (frozen or not; cloned) shared by every candidate.
        output: the output folder DIR.
        seeds: training (and search) seeds, e.g. ``[0, 1, 2]``.
        num_random: number of random genotypes.
        search_cfg: the search config (cloned), or None for no search (no ``searched`` row).
        tune_lrs: learning rates to choose from per backbone family on the validation split; empty
            keeps the recipe's SOLVER.BASE_LR for every family.
        valid_ratio: fraction of the training identities held out for that choice.
        baselines: hand-designed backbones to add.
        only: keep just these candidate names (empty = all).
        command: the command line, recorded in results.json.
        on_validation: train every run on the training identities less ``valid_ratio`` of them and
            evaluate it on those (a split drawn with the run's seed, written to DIR/valid/), never on
            the test split: for design choices such as a config option.
    """

    def __init__(self, recipe, output: str, seeds: Sequence[int], num_random: int, search_cfg=None,
                 tune_lrs: Sequence[float] = (), valid_ratio: float = 0.2,
                 baselines: Sequence[str] = ("osnet", "resnet50"), only: Sequence[str] = (),
                 command: str = "", on_validation: bool = False) -> None:
        if not seeds:
            raise ValueError("--seeds: expected at least one seed")
        if on_validation and search_cfg is not None:
            raise ValueError("--on-validation with a search: the search would train on the held-out validation "
                             "identities; expected --no-search (compare fixed genotypes or config options)")
        if num_random < 0:
            raise ValueError(f"--random: {num_random}; expected a number of random genotypes >= 0")
        self.recipe = recipe.clone()
        self.out = Path(output)
        self.seeds = [int(s) for s in seeds]
        self.num_random = int(num_random)
        self.search_cfg = search_cfg.clone() if search_cfg is not None else None
        self.tune_lrs = [float(x) for x in tune_lrs]
        self.valid_ratio = float(valid_ratio)
        self.baselines = list(baselines)
        self.only = list(only)
        self.command = command
        self.on_validation = bool(on_validation)
        self._train_items: Optional[List[Tuple[str, Any, Any]]] = None
        self.out.mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------- configs
    def run_cfg(self, cand: Candidate, seed_index: int, output_dir: Path, base_lr: Optional[float] = None,
                base=None):
        """The recipe with ``cand``'s backbone (and genotype), the seed, the output folder, the LR."""
        cfg = (base if base is not None else self.recipe).clone()
        cfg.defrost()
        cfg.MODEL.BACKBONE.NAME = cand.backbone
        genotype = cand.genotype(seed_index)
        if genotype is not None:
            cfg.MODEL.MSINET.GENOTYPE = genotype
        if cand.backbone == "resnet50" and cfg.MODEL.HEADS.NAME == "FBLNeck":
            cfg.MODEL.MSINET.PART_FEATURE = "layer3"  # ResNet's stride-16 map, as MSINet's stage 2
        cfg.SEED = int(self.seeds[seed_index])
        cfg.OUTPUT_DIR = str(output_dir)
        if base_lr is not None:
            cfg.SOLVER.BASE_LR = float(base_lr)
        cfg.freeze()
        return cfg

    # ---------------------------------------------------------------- steps
    def search(self, seed_index: int) -> List[str]:
        """The TCM search with the seed; returns its genotype (read back when already finished)."""
        from fastreid.engine import start_run

        from .search_trainer import SearchTrainer

        out = self.out / "search" / f"seed{self.seeds[seed_index]}"
        genotype_file = out / "genotype.yaml"
        if not genotype_file.is_file():
            cfg = self.search_cfg.clone()
            cfg.defrost()
            cfg.SEED = self.seeds[seed_index]
            cfg.OUTPUT_DIR = str(out)
            cfg.freeze()
            start_run(cfg, resume=True)
            logger.info("Search with seed %d -> %s", cfg.SEED, out)
            trainer = SearchTrainer(cfg)
            resumed = trainer.checkpointer.has_checkpoint()
            trainer.resume_or_load(resume=resumed)
            self._timed(out / "search_seconds.json", trainer.train, resumed)
            if not genotype_file.is_file():
                raise RuntimeError(f"the search finished without writing {genotype_file}")
        return resolve_genotype(str(genotype_file))

    def train(self, cfg) -> Dict[str, Any]:
        """Train ``cfg`` (resuming its folder's last checkpoint) and evaluate once; the result is
        cached in ``OUTPUT_DIR/result.json``."""
        import torch

        from fastreid.engine import DefaultTrainer, start_run
        from fastreid.modeling.complexity import count_macs, count_parameters
        from fastreid.utils.comm import unwrap_model

        out = Path(cfg.OUTPUT_DIR)
        result_file = out / "result.json"
        if result_file.is_file():
            return json.loads(result_file.read_text())
        start_run(cfg, resume=True)
        trainer = DefaultTrainer(cfg)
        resumed = trainer.checkpointer.has_checkpoint()
        trainer.resume_or_load(resume=resumed)
        results, seconds = self._timed(out / "train_seconds.json", trainer.train, resumed)
        if not results:  # training had already finished before this call: evaluate its weights
            results = DefaultTrainer.test(cfg, trainer.model)
        model = unwrap_model(trainer.model)
        sizes = count_parameters(model)
        result = {m: float(results[m]) for m in METRICS}
        result.update({"seed": cfg.SEED, "base_lr": float(cfg.SOLVER.BASE_LR), "train_seconds": seconds,
                       "params": sizes["params_without_classifier"],
                       "gmacs": count_macs(model, cfg.INPUT.SIZE_TEST) / 1e9,
                       "genotype": cfg.MODEL.MSINET.GENOTYPE if cfg.MODEL.BACKBONE.NAME == "msinet" else None,
                       "iterations": trainer.max_iter, "threads": torch.get_num_threads()})
        _write_json(result_file, result)
        return result

    @staticmethod
    def _timed(path: Path, fn, resumed: bool):
        """``fn()`` and the wall seconds spent on it over every attempt (an interrupted attempt's time
        is kept in ``path`` and added to the next when the next resumes from its checkpoint)."""
        spent = float(json.loads(path.read_text())["seconds"]) if resumed and path.is_file() else 0.0
        t0 = time.perf_counter()
        try:
            return fn(), spent + time.perf_counter() - t0
        finally:
            _write_json(path, {"seconds": spent + time.perf_counter() - t0})

    def validation_recipe(self, split: Path, seed: int):
        """The recipe trained on the training identities less ``valid_ratio`` of them (drawn with
        ``seed``) and evaluated on those held out, with the split written to ``split``; returns the
        config and the split's counts."""
        from fastreid.data import build_dataset

        if self._train_items is None:  # loaded (and its table printed) once
            self._train_items = [it for name in self.recipe.DATASETS.NAMES
                                 for it in build_dataset(self.recipe, name).train]
        counts = write_validation_split(self._train_items, self.valid_ratio, str(split), seed=seed)
        logger.info("Validation split of the training identities (seed %d): %s -> %s", seed, counts, split)
        base = self.recipe.clone()
        base.defrost()
        base.DATASETS.NAMES = ("CustomReID",)
        base.DATASETS.TESTS = ("CustomReID",)
        base.DATASETS.CUSTOM.DIR = str(split.parent.resolve())
        base.DATASETS.CUSTOM.LIST = split.name
        base.freeze()
        return base, counts

    def tune(self, candidates: Sequence[Candidate]) -> Dict[str, float]:
        """Per backbone family, the learning rate of ``tune_lrs`` with the best validation mAP (first
        seed; MSINet is tuned with the ``msmt`` genotype). Empty without ``tune_lrs``."""
        if not self.tune_lrs:
            return {}
        base, counts = self.validation_recipe(self.out / "tune" / "valid_split.csv", seed=0)
        chosen: Dict[str, float] = {}
        table: Dict[str, Dict[str, float]] = {}
        for family in dict.fromkeys(c.backbone for c in candidates):
            cand = (Candidate("msmt", "msinet", (tuple(NAMED_GENOTYPES["msmt"]),)) if family == "msinet"
                    else Candidate(family, family))
            scores = {}
            for lr in self.tune_lrs:
                cfg = self.run_cfg(cand, 0, self.out / "tune" / family / f"lr{lr:g}", base_lr=lr, base=base)
                scores[lr] = self.train(cfg)["mAP"]
                logger.info("LR tuning %s (%s): lr %g -> validation mAP %.1f", family, cand.name, lr, scores[lr])
            chosen[family] = max(scores, key=scores.get)
            table[family] = {f"{lr:g}": s for lr, s in scores.items()}
        _write_json(self.out / "tune" / "chosen.json", {"validation_mAP": table, "chosen_lr": chosen,
                                                        "split": counts})
        return chosen

    def run(self) -> Dict[str, Any]:
        """Search, tune, train every candidate on every seed, and write the report; returns results.json."""
        searched = [self.search(i) for i in range(len(self.seeds))] if self.search_cfg is not None else []
        agreement = None
        if searched:
            alphas = []
            for s in self.seeds:
                f = self.out / "search" / f"seed{s}" / "alphas.json"
                if f.is_file():
                    alphas.append(json.loads(f.read_text())["softmax_alpha"][-1])
            agreement = search_agreement(searched, alphas if len(alphas) == len(searched) else ())
        candidates = build_candidates(searched, self.num_random, baselines=self.baselines)
        if self.only:
            unknown = sorted(set(self.only) - {c.name for c in candidates})
            if unknown:
                raise ValueError(f"--architectures: unknown {', '.join(unknown)}; expected names among "
                                 f"{', '.join(c.name for c in candidates)}")
            candidates = [c for c in candidates if c.name in self.only]
        lrs = self.tune(candidates)
        bases = ([self.validation_recipe(self.out / "valid" / f"split_seed{s}.csv", seed=s)[0] for s in self.seeds]
                 if self.on_validation else [None] * len(self.seeds))
        runs: Dict[str, Dict[int, Dict[str, Any]]] = {}
        jobs = [(i, c) for i in range(len(self.seeds)) for c in candidates]  # seed-major: a full table early
        t_start, fresh = time.perf_counter(), 0
        for k, (i, cand) in enumerate(jobs, 1):
            seed = self.seeds[i]
            cfg = self.run_cfg(cand, i, self.out / "runs" / cand.name / f"seed{seed}", base_lr=lrs.get(cand.backbone),
                               base=bases[i])
            cached = (Path(cfg.OUTPUT_DIR) / "result.json").is_file()
            if not cached:
                eta = ""
                if fresh:
                    per = (time.perf_counter() - t_start) / fresh
                    eta = f", about {per * (len(jobs) - k + 1) / 60:.0f} min left"
                logger.info("[%d/%d] %s, seed %d%s", k, len(jobs), cand.name, seed, eta)
            res = self.train(cfg)
            fresh += 0 if cached else 1
            runs.setdefault(cand.name, {})[seed] = res
            report = self.write_report(candidates, runs, agreement, lrs)
        return report

    def write_report(self, candidates, runs, agreement, lrs) -> Dict[str, Any]:
        reference = "searched" if any(c.name == "searched" for c in candidates) else "msmt"
        summary = summarize(candidates, runs, reference)
        title = (f"{', '.join(self.recipe.DATASETS.NAMES)}: {len(self.seeds)} seed(s), one recipe, evaluated once on "
                 + (f"a validation split of the training identities ({self.valid_ratio:g} of them held out, "
                    f"drawn with each seed)" if self.on_validation else "the test split"))
        report = {"command": self.command, "recipe": {"datasets": list(self.recipe.DATASETS.NAMES), "tests": list(self.recipe.DATASETS.TESTS),
                             "head": self.recipe.MODEL.HEADS.NAME, "input": list(self.recipe.INPUT.SIZE_TRAIN),
                             "max_epoch": self.recipe.SOLVER.MAX_EPOCH, "base_lr": self.recipe.SOLVER.BASE_LR,
                             "tuned_lr": lrs,
                             "evaluated_on": "validation" if self.on_validation else "test"},
                  "seeds": self.seeds, "search_agreement": agreement, "architectures": summary,
                  "noise_test": {"test": "Welch's t, two-sided", "metric": "mAP", "level": LEVEL,
                                 "reference": reference, "pairs": pairwise_tests(summary)}}
        _write_json(self.out / "results.json", report)
        md = markdown_report(summary, reference, agreement, title)
        tmp = self.out / "results.md.tmp"
        tmp.write_text(md)
        os.replace(tmp, self.out / "results.md")
        plot_results(summary, str(self.out / "results.png"), title)
        return report
