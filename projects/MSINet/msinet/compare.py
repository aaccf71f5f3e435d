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

This module is the driver. The summary and report are ``msinet/compare_report.py`` (over the
library's seed statistics, :mod:`fastreid.utils.stats`, and report writers, :mod:`fastreid.utils.report`),
the validation split is :mod:`fastreid.data.validation_split`; their names are importable from here too.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from fastreid.data.validation_split import write_validation_split
from fastreid.utils.file_io import atomic_open
from fastreid.utils.stats import LEVEL, exceeds_noise, pairwise_tests
from fastreid.utils.stats import welch_rows as welch_test

from .compare_report import METRICS, markdown_report, plot_results, search_agreement, summarize
from .genotypes import NAMED_GENOTYPES, random_genotype, resolve_genotype
from .interaction import OP_NAMES

__all__ = ["Candidate", "build_candidates", "search_agreement", "summarize", "welch_test", "exceeds_noise",
           "pairwise_tests", "markdown_report", "plot_results", "write_validation_split", "GenotypeComparison",
           "LEVEL"]

logger = logging.getLogger(__name__)

FAMILIES = ("msinet", "osnet", "resnet50")


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


def _write_json(path: Path, data: Any) -> None:
    with atomic_open(str(path)) as f:
        json.dump(data, f, indent=1)


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
        with atomic_open(str(self.out / "results.md")) as f:
            f.write(markdown_report(summary, reference, agreement, title))
        plot_results(summary, str(self.out / "results.png"), title)
        return report
