"""The Figure 5 (b) experiment's results (``msinet/compare.py`` runs it): how far the searches of
different seeds agree, the per-architecture summary over seeds with Welch's noise tests, and its
markdown table and bar figure.

Generic parts come from the library: seed statistics and tests from :mod:`fastreid.utils.stats`, table
and figure writers from :mod:`fastreid.utils.report`; what is here is the experiment's own (genotypes,
parameter counts, the search agreement).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Sequence

from fastreid.utils.report import (
    format_mean_std,
    format_range,
    format_test,
    markdown_table,
    noise_test_note,
    plot_seed_bars,
)
from fastreid.utils.stats import LEVEL, pairwise_tests, seed_summary
from fastreid.utils.stats import welch_rows as welch_test

from .genotypes import NUM_INTERACTIONS
from .interaction import OP_NAMES

if TYPE_CHECKING:
    from .compare import Candidate

__all__ = ["search_agreement", "summarize", "markdown_report", "plot_results", "METRICS"]

METRICS = ("Rank-1", "Rank-5", "mAP", "mINP")


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


def summarize(candidates: Sequence["Candidate"], runs: Mapping[str, Mapping[int, Mapping[str, Any]]],
              reference: Optional[str] = None, level: float = LEVEL) -> Dict[str, Any]:
    """Per candidate (in order): genotype(s), params and GMACs (of the first finished seed, and per
    seed: a searched row has one genotype per seed), per-seed metrics and mean / sample std over the
    finished seeds. ``runs[name][seed]`` is a run's result.json. With ``reference``, every other row
    also gets ``mAP_vs_reference``: Welch's test of its mAP against the reference row's
    (:func:`~fastreid.utils.stats.welch_rows`, with ``reference`` and ``level``; None when untestable)."""
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
            row[m] = seed_summary([done[s][m] for s in seeds])
        out[c.name] = row
    if reference is not None and reference in out:
        for name, row in out.items():
            if name != reference:
                test = welch_test(row, out[reference])
                row["mAP_vs_reference"] = (None if test is None
                                           else dict(test, reference=reference, level=level, metric="mAP"))
    return out


def markdown_report(summary: Mapping[str, Any], reference: str = "searched",
                    agreement: Optional[Mapping[str, Any]] = None, title: str = "",
                    level: float = LEVEL) -> str:
    """The results table (mean +- std over seeds); per row, Welch's test of its mAP against the
    ``reference`` row's (difference of means, t, degrees of freedom, two-sided p, and whether p is
    below ``level``); then, per backbone family with more than two testable rows, the pairs of rows
    whose mAP differ at ``level``. Works on the summary of an old results.json (tests are computed
    from the per-seed values)."""
    header = ["architecture", "seeds", "params", "GMACs", "LR", "Rank-1", "mAP", "mINP", "train time",
              f"mAP vs {reference}: difference, Welch t, df, p"]
    ref = summary.get(reference)
    rows, tested = [], False
    for name, row in summary.items():
        n = len(row["seeds"])
        if n == 0:
            rows.append([name, 0] + ["-"] * 8)
            continue
        verdict = "-"
        if ref is not None and name != reference and ref["seeds"]:
            test = welch_test(row, ref)
            tested = tested or test is not None
            if test is None:
                verdict = f"{row['mAP']['mean'] - ref['mAP']['mean']:+.1f} (untested: fewer than 2 seeds or no spread)"
            else:
                verdict = (f"{format_test(test)} "
                           + (f"(beyond noise at p < {level:g})" if test["p"] < level else "(within noise)"))
        lr = f"{row['base_lr']:g}" if row.get("base_lr") is not None else "-"
        rows.append([name, n, f"{format_range(row, 'params', 1e6, '.2f')} M", format_range(row, "gmacs", 1.0, ".2f"),
                     lr, format_mean_std(row["Rank-1"]), format_mean_std(row["mAP"]), format_mean_std(row["mINP"]),
                     f"{row['train_seconds']['mean'] / 60:.1f} min", verdict])
    lines = ([f"### {title}", ""] if title else []) + [markdown_table(header, rows)]
    # pairs within a backbone family of three or more rows (with two, the one pair is the row against
    # the reference, or not worth a line)
    pairs = pairwise_tests(summary)
    families = {f: [t for t in pairs if t["backbone"] == f] for f in dict.fromkeys(t["backbone"] for t in pairs)}
    families = {f: tests for f, tests in families.items() if len({t[k] for t in tests for k in ("a", "b")}) >= 3}
    if tested or families:
        lines += ["", noise_test_note(level)]
    for family, tests in families.items():
        hits = [t for t in tests if t["p"] < level]
        lines += ["", f"Every pair of {family} rows ({len(tests)} pairs): {len(hits)} differ at p < {level:g}"
                  + (": " + "; ".join(f"{t['a']} - {t['b']} {format_test(t)}" for t in hits) if hits else "") + "."]
    if agreement and agreement["seeds"] > 1:
        lines += ["", _agreement_note(agreement)]
    return "\n".join(lines) + "\n"


def _agreement_note(agreement: Mapping[str, Any]) -> str:
    """The report's sentence on how far the searches of different seeds agree (:func:`search_agreement`)."""
    return (f"Search agreement over {agreement['seeds']} seeds: {agreement['unanimous_ims']} of "
            f"{NUM_INTERACTIONS} IMs pick the same op in every search (chance {agreement['unanimous_chance']:.2f}); "
            f"two searches agree on {agreement['pairwise_agreeing_ims']:.1f} IMs on average (chance "
            f"{agreement['pairwise_chance']:.1f})."
            + (f" Counting 'attention' as 'none' (it starts as the identity): {agreement['unanimous_ims_attention_as_none']}"
               f" unanimous (chance {agreement['unanimous_chance_attention_as_none']:.2f}), "
               f"{agreement['pairwise_agreeing_ims_attention_as_none']:.1f} pairwise (chance "
               f"{agreement['pairwise_chance_attention_as_none']:.1f}).")
            + (f" Final softmax(alpha) margin best - second: mean {agreement['margin_mean']:.3f}, "
               f"min {agreement['margin_min']:.3f}." if "margin_mean" in agreement else ""))


def plot_results(summary: Mapping[str, Any], path: str, title: str = "") -> None:
    """Bars of mean Rank-1 and mAP per architecture with seed-std error bars and each seed as a dot
    (:func:`~fastreid.utils.report.plot_seed_bars`); the searched row in red, the others by family."""
    colours = {"msinet": "#4c72b0", "osnet": "#dd8452", "resnet50": "#55a868"}
    plot_seed_bars(summary, path, colour_of=lambda name, row: "#c44e52" if name == "searched"
                   else colours.get(row["backbone"], "grey"), title=title)
