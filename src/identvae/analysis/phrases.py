"""Caption phrases that several experiments use, written once: counts of runs, of unfinished
runs, the chance line, the selected check, and the binned experiments' accounting (E2, E6).

Every count is read from the summary, so a caption never claims a run that is not there."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from identvae.analysis.binning import UNBINNED, Binning
from identvae.analysis.correlation import MIN_SPEARMAN_RUNS
from identvae.analysis.runs import OK

#: Where every reported metric comes from (model selection, as in the paper).
METRICS_AT = (
    "Metrics are taken at the selected check: the validation check with the lowest negative ELBO."
)


def experiment_caption(experiment: str, label: str, text: str) -> str:
    """``"<experiment> (<label>): <text>"``: the report shows captions apart from their files,
    so each names the experiment it belongs to."""
    return f"{experiment} ({label}): {text}"


def plural(k: int, word: str) -> str:
    """``"1 run"``, ``"3 runs"``."""
    return f"{k} {word}{'' if k == 1 else 's'}"


def format_power(value: float) -> str:
    """Compact γ² for text: 10000.0 -> "1e4", 3000.0 -> "3e3", 10.0 -> "1e1", 0.5 -> "0.5"."""
    if value >= 10:
        mantissa, exponent = f"{value:.6e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:g}"


def format_p(p: float) -> str:
    """A p-value with two significant digits, or in scientific notation below 1e-3."""
    if not np.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def count_range(counts: pd.Series) -> str:
    """ "20 runs" or "18–20 runs" for per-group run counts."""
    lo, hi = (int(counts.min()), int(counts.max())) if len(counts) else (0, 0)
    return plural(hi, "run") if lo == hi else f"{lo}–{hi} runs"


def seeds_phrase(summary: pd.DataFrame, column: str, name: str) -> str:
    """ "model seed 1" for a single seed, else "5 model seeds"; "" without the column."""
    if column not in summary:
        return ""
    seeds = sorted(summary[column].dropna().unique().tolist())
    return f"{name} {int(seeds[0])}" if len(seeds) == 1 else plural(len(seeds), name)


def unfinished_counts(statuses: pd.Series) -> str:
    """``"2 diverged, 1 failed"`` for the runs whose status is not "ok" ("" if there are none)."""
    counts = statuses[statuses != OK].astype(str).value_counts().sort_index()
    return ", ".join(f"{k} {status}" for status, k in counts.items())


def accounting(statuses: pd.Series, unfinished_shown: str) -> str:
    """ "All 20 runs finished." or "Of 20 runs, 2 diverged; <how they are shown>."."""
    parts = unfinished_counts(statuses)
    if not parts:
        return f"All {plural(len(statuses), 'run')} finished."
    return f"Of {plural(len(statuses), 'run')}, {parts}; {unfinished_shown}."


def chance_phrase(chance: float | Mapping[int, float] | None) -> str:
    """The sentence for the dashed chance line ("" when there is none): one level, or one per
    latent dimension."""
    if isinstance(chance, Mapping):
        shown = {d: c for d, c in chance.items() if np.isfinite(c)}
        if not shown:
            return ""
        levels = ", ".join(f"{c:.2f} at dimension {d}" for d, c in sorted(shown.items()))
        return f"Dashed lines mark the batch MCC expected by chance ({levels})."
    if chance is None or not np.isfinite(chance):
        return ""
    return f"The dashed line marks the batch MCC expected by chance ({chance:.2f})."


# --- the binned experiments (E2, E6) ------------------------------------------------------------


def runs_phrase(summary: pd.DataFrame) -> str:
    """ "100 runs (100 data seeds, model seed 1, γ² = 1e5)", read from the data."""
    parts = []
    if "data_seed" in summary:  # one dataset per data seed: their number, even when one
        parts.append(plural(int(summary["data_seed"].nunique()), "data seed"))
    if "model_seed" in summary:
        parts.append(seeds_phrase(summary, "model_seed", "model seed"))
    if "gamma2" in summary:
        gammas = sorted(float(g) for g in summary["gamma2"].dropna().unique())
        if gammas:
            parts.append("γ² = " + ", ".join(format_power(g) for g in gammas))
    inner = f" ({', '.join(parts)})" if parts else ""
    return plural(len(summary), "run") + inner


def binned_accounting(summary: pd.DataFrame, b: Binning) -> str:
    """Bins, failures and runs off the axis, with counts from the data."""
    n = len(summary)
    if b.edges is None:
        bins = (
            f"No run has a finite log10 C_IMA, so there are no bins and none of the {n} runs "
            "is shown."
        )
    else:
        lo, hi = b.range
        basis = (
            "the finished runs' range"
            if (b.ok & np.isfinite(b.log_x)).any()
            else "the range of all runs (none finished)"
        )
        bins = (
            f"The {b.n_bins} bins have equal width in log10 and span {basis}, "
            f"[{lo:.2f}, {hi:.2f}]; each violin summarises the finished runs of one bin, dots "
            "are individual runs at their own C_IMA and the bar is the median."
        )
    failed = accounting(
        pd.Series(b.status, dtype=str),
        "they are excluded from the violins and the rank correlation but counted above their "
        "bin where their C_IMA is known (crosses at the bottom)",
    )
    extra = ""
    if b.n_outside:
        extra += (
            f" {plural(b.n_outside, 'unfinished run')} with a C_IMA outside that range "
            f"{'is' if b.n_outside == 1 else 'are'} counted in the nearest end bin."
        )
    if b.n_unbinned and b.edges is not None:
        unbinned_ok = int((b.ok & (b.bins == UNBINNED)).sum())
        extra += (
            f" {plural(b.n_unbinned, 'run')} ({unbinned_ok} finished) without a finite "
            f"log10 C_IMA (not recorded, or ≤ 0) {'is' if b.n_unbinned == 1 else 'are'} in no "
            "bin and not shown."
        )
    return f"{bins} {failed}{extra}"


def correlation_phrase(b: Binning) -> str:
    """The Spearman correlation written on the binned figures, or why there is none."""
    if np.isfinite(b.rho):
        value = f"ρ = {b.rho:.2f} (p = {format_p(b.p)}, n = {b.n_rho})"
    else:
        value = f"undefined (n = {b.n_rho}; needs ≥ {MIN_SPEARMAN_RUNS} runs and varying values)"
    return (
        "Spearman rank correlation between C_IMA and batch MCC over the finished runs "
        f"(written on the plot): {value}."
    )
