"""Reports of experiments: markdown tables, the wording of seed statistics and noise tests, and the bar
figure of seeded rows.

The rows are those of :mod:`fastreid.utils.stats` (``row[metric] = {"per_seed", "mean", "std"}``,
``row["seeds"]``). Every writer here returns text or writes one file atomically; what a table holds is
the caller's (a benchmark's columns, an experiment's verdicts).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from .file_io import atomic_path

__all__ = ["markdown_table", "format_mean_std", "format_p", "format_test", "format_range", "noise_test_note",
           "plot_seed_bars"]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A markdown table: the header, the separator, then one line per row (cells written with ``str``);
    no newline at the end."""
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def format_mean_std(stat: Mapping[str, Any]) -> str:
    """``mean ± std`` over seeds (one decimal), or the single value of a row with one seed."""
    if len(stat["per_seed"]) > 1:
        return f"{stat['mean']:.1f} ± {stat['std']:.1f}"
    return f"{stat['mean']:.1f}"


def format_p(p: float) -> str:
    """``p < 0.001`` or ``p = 0.042``."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def format_test(test: Mapping[str, float]) -> str:
    """A Welch test (:func:`fastreid.utils.stats.welch`) in one phrase: ``+4.0, t = 2.45, df = 4.0, p = 0.070``."""
    return f"{test['diff']:+.1f}, t = {test['t']:.2f}, df = {test['df']:.1f}, {format_p(test['p'])}"


def format_range(row: Mapping[str, Any], key: str, scale: float, fmt: str) -> str:
    """``row[key] / scale`` written with ``fmt``, or the range of ``row[key + "_per_seed"]`` where the
    seeds differ (e.g. the parameter count of a row whose architecture changes with its seed); a row
    without per-seed values gives its one value."""
    vals = sorted({format(v / scale, fmt) for v in row.get(f"{key}_per_seed", [row[key]])}, key=float)
    return vals[0] if len(vals) == 1 else f"{vals[0]}-{vals[-1]}"


def noise_test_note(level: float, metric: str = "mAP") -> str:
    """The sentence that says how a table's differences were tested, and what ``level`` means."""
    return (f"Noise test: Welch's t-test (unequal variances) of the {metric} over seeds, two-sided; a difference "
            f"is called beyond the seed noise at p < {level:g} and within it otherwise. At that level about 1 "
            f"in {1 / level:.0f} tests of two rows with equal true means passes by chance.")


def plot_seed_bars(rows: Mapping[str, Mapping[str, Any]], path: str, metrics: Sequence[str] = ("Rank-1", "mAP"),
                   colour_of: Optional[Callable[[str, Mapping[str, Any]], str]] = None, title: str = "") -> None:
    """One panel per metric: a bar per row with seeds (the mean), the seed std as an error bar and each
    seed as a dot; ``colour_of(name, row)`` picks a bar's colour. Written to ``path`` (PNG) atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, r in rows.items() if r["seeds"]]
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(8.0, 1.1 * len(names) + 3), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for i, n in enumerate(names):
            r = rows[n]
            colour = colour_of(n, r) if colour_of is not None else "#4c72b0"
            ax.bar(i, r[metric]["mean"], yerr=r[metric]["std"], color=colour, alpha=0.85, capsize=4)
            ax.scatter([i] * len(r[metric]["per_seed"]), r[metric]["per_seed"], color="black", s=10, zorder=3)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title or "mean over seeds (bars), seed std (error bars), each seed (dots)", fontsize=10)
    fig.tight_layout()
    try:
        with atomic_path(path, suffix=".tmp.png") as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
