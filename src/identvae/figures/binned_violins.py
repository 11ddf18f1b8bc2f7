"""Batch MCC against a binned, log-scaled IMA contrast of the true mixing (E2, E6).

Each run has its own data seed, hence its own mixing and its own C_IMA (a data property, known
even when training failed). Runs are binned on log10 C_IMA into ``n_bins`` bins of equal width
in log10 and the batch MCC of the finished runs is drawn as one violin per bin.

Bin edges are deterministic functions of the summary (:func:`bin_edges`):

- they span the range of log10 C_IMA over the runs with status "ok" (and a finite log10 C_IMA);
- if no run finished, they span the runs that have a finite log10 C_IMA whatever their status,
  so the failures are still placed;
- if all those values are equal, the bins span that value ± ``SINGLE_VALUE_HALF_WIDTH`` decades
  (the value then falls in the middle bin);
- if no run has a finite log10 C_IMA, there are no bins.

A run that did not finish but whose C_IMA lies outside the finished runs' range is counted in
the nearest end bin (and said so in the caption). A run whose log10 C_IMA is not finite (C_IMA
missing, e.g. not recorded for a failed run, or ≤ 0) is in no bin: the table gives such runs one
extra row (``bin`` = -1) and the caption counts them, so every run is accounted for.

The Spearman rank correlation between the C_IMA and batch MCC is taken over the finished runs
with both values finite (ranks of C_IMA and of its log10 agree)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory
from scipy.stats import spearmanr

from identvae.figures.gamma_sweep import OK, draw_violins, safe_log10
from identvae.figures.style import COLORS, FIG_WIDTH, apply_style
from identvae.summary import unfinished_counts

#: Default number of bins (the paper's).
N_BINS = 5
#: Half-width in decades of the bins' span when every run has the same C_IMA.
SINGLE_VALUE_HALF_WIDTH = 0.5
#: Fewer pairs than this give no rank correlation (NaN).
MIN_SPEARMAN_RUNS = 3
#: ``bin`` index of the table row for runs without a finite log10 C_IMA.
UNBINNED = -1
UNBINNED_LABEL = "no finite C_IMA"

TABLE_COLUMNS = [
    "bin",
    "bin_label",
    "log10_cima_lo",
    "log10_cima_hi",
    "runs",
    "failed",
    "mcc_batch_median",
    "mcc_batch_mean",
    "mcc_batch_std",
    "mcc_full_median",
    "cima_axis",
    "spearman_rho",
    "spearman_p",
    "spearman_n",
]


def bin_edges(log_x: np.ndarray, ok: np.ndarray, n_bins: int = N_BINS) -> np.ndarray | None:
    """``n_bins + 1`` equally spaced edges in log10 C_IMA (see the module docstring), or None.

    ``log_x``: log10 C_IMA per run (NaN where unknown); ``ok``: whether each run finished."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    log_x = np.asarray(log_x, dtype=float)
    finite = np.isfinite(log_x)
    basis = log_x[finite & np.asarray(ok, dtype=bool)]
    if basis.size == 0:
        basis = log_x[finite]
    if basis.size == 0:
        return None
    lo, hi = float(basis.min()), float(basis.max())
    if hi == lo:
        lo, hi = lo - SINGLE_VALUE_HALF_WIDTH, hi + SINGLE_VALUE_HALF_WIDTH
    return np.linspace(lo, hi, n_bins + 1)


def assign_bins(log_x: np.ndarray, edges: np.ndarray | None) -> np.ndarray:
    """Bin index per value: bins are [lo, hi) except the last, [lo, hi]; values outside the
    edges go to the nearest end bin; non-finite values (or no edges) get ``UNBINNED``."""
    log_x = np.asarray(log_x, dtype=float)
    out = np.full(log_x.shape, UNBINNED, dtype=int)
    if edges is None:
        return out
    finite = np.isfinite(log_x)
    idx = np.searchsorted(edges, log_x[finite], side="right") - 1
    out[finite] = np.clip(idx, 0, len(edges) - 2)
    return out


def bin_label(edges: np.ndarray, k: int) -> str:
    """ "[lo, hi)" in log10 C_IMA, the last bin closed: "[lo, hi]"."""
    close = "]" if k == len(edges) - 2 else ")"
    return f"[{edges[k]:.2f}, {edges[k + 1]:.2f}{close}"


def rank_correlation(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    """Spearman ρ, its two-sided p-value and the number of finite pairs; NaNs when fewer than
    ``MIN_SPEARMAN_RUNS`` pairs or when either variable is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(keep.sum())
    if n < MIN_SPEARMAN_RUNS or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan, np.nan, n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = spearmanr(x, y)
    return float(result.statistic), float(result.pvalue), n


@dataclass(frozen=True)
class Binning:
    """Runs of one summary binned on log10 of ``column``; arrays are aligned with the rows."""

    column: str
    edges: np.ndarray | None
    log_x: np.ndarray
    bins: np.ndarray
    ok: np.ndarray
    status: np.ndarray
    mcc_batch: np.ndarray
    mcc_full: np.ndarray
    rho: float
    p: float
    n_rho: int

    @property
    def n_bins(self) -> int:
        return 0 if self.edges is None else len(self.edges) - 1

    @property
    def n_unbinned(self) -> int:
        """Runs with no finite log10 C_IMA (in no bin)."""
        return int((self.bins == UNBINNED).sum())

    @property
    def n_outside(self) -> int:
        """Runs (necessarily not finished) counted in an end bin although their log10 C_IMA
        lies outside the edges."""
        if self.edges is None:
            return 0
        finite = np.isfinite(self.log_x)
        x = self.log_x[finite]
        return int(((x < self.edges[0]) | (x > self.edges[-1])).sum())

    @property
    def range(self) -> tuple[float, float]:
        if self.edges is None:
            return np.nan, np.nan
        return float(self.edges[0]), float(self.edges[-1])


def binning(summary: pd.DataFrame, column: str, n_bins: int = N_BINS) -> Binning:
    """Bin the runs of ``summary`` on log10 of its ``column`` (a C_IMA) and correlate it with
    batch MCC over the finished runs. A missing column is a wiring error (KeyError)."""
    if column not in summary.columns:
        raise KeyError(
            f"summary has no column {column!r} (the C_IMA on the x axis); "
            f"columns: {list(summary.columns)}"
        )
    status = summary["status"].astype(str).to_numpy()
    ok = status == OK
    log_x = safe_log10(summary[column].to_numpy(dtype=float))
    edges = bin_edges(log_x, ok, n_bins)
    mcc_batch = summary["mcc_batch"].to_numpy(dtype=float)
    mcc_full = (
        summary["mcc_full"].to_numpy(dtype=float)
        if "mcc_full" in summary.columns
        else np.full(len(summary), np.nan)
    )
    rho, p, n_rho = rank_correlation(log_x[ok], mcc_batch[ok])
    return Binning(
        column=column,
        edges=edges,
        log_x=log_x,
        bins=assign_bins(log_x, edges),
        ok=ok,
        status=status,
        mcc_batch=mcc_batch,
        mcc_full=mcc_full,
        rho=rho,
        p=p,
        n_rho=n_rho,
    )


def _stats(values: np.ndarray) -> dict[str, float]:
    values = pd.Series(values, dtype=float)
    return {"median": values.median(), "mean": values.mean(), "std": values.std()}


def binned_table(summary: pd.DataFrame, column: str, n_bins: int = N_BINS) -> pd.DataFrame:
    """One row per bin (ascending), plus a row with ``bin`` = -1 when some runs have no finite
    log10 C_IMA, so that ``runs`` sums to the number of runs. Failed runs are counted in
    ``failed`` and ``runs``; MCC statistics are over the finished runs of the bin. The Spearman
    correlation of the whole sweep (``spearman_rho``, ``spearman_p``, over ``spearman_n`` finished
    runs) and the C_IMA column used (``cima_axis``) are repeated on every row."""
    b = binning(summary, column, n_bins)
    rows = []
    groups: list[tuple[int, str, float, float]] = [
        (k, bin_label(b.edges, k), float(b.edges[k]), float(b.edges[k + 1]))
        for k in range(b.n_bins)
    ]
    if b.n_unbinned:
        groups.append((UNBINNED, UNBINNED_LABEL, np.nan, np.nan))
    for k, label, lo, hi in groups:
        member = b.bins == k
        ok = member & b.ok
        batch, full = _stats(b.mcc_batch[ok]), _stats(b.mcc_full[ok])
        rows.append(
            {
                "bin": k,
                "bin_label": label,
                "log10_cima_lo": lo,
                "log10_cima_hi": hi,
                "runs": int(member.sum()),
                "failed": int((member & ~b.ok).sum()),
                "mcc_batch_median": batch["median"],
                "mcc_batch_mean": batch["mean"],
                "mcc_batch_std": batch["std"],
                "mcc_full_median": full["median"],
                "cima_axis": column,
                "spearman_rho": b.rho,
                "spearman_p": b.p,
                "spearman_n": b.n_rho,
            }
        )
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.astype({"bin": int, "runs": int, "failed": int, "spearman_n": int})


def bin_count_labels(b: Binning) -> list[str]:
    """Per bin: "n=<finished runs>" plus one "(k <status>)" line per other status."""
    labels = []
    for k in range(b.n_bins):
        member = b.bins == k
        lines = [f"n={int((member & b.ok).sum())}"]
        statuses = pd.Series(b.status[member & ~b.ok], dtype=str)
        for status, count in statuses.value_counts().sort_index().items():
            lines.append(f"({count} {status})")
        labels.append("\n".join(lines))
    return labels


def format_p(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def spearman_text(b: Binning) -> str:
    """ "Spearman ρ = -0.45 (p = 2.1e-06, n = 98)", or why there is none."""
    if not np.isfinite(b.rho):
        return f"Spearman ρ: n/a (n = {b.n_rho})"
    return f"Spearman ρ = {b.rho:.2f} (p = {format_p(b.p)}, n = {b.n_rho})"


def plot_binned_violins(
    summary: pd.DataFrame,
    column: str,
    *,
    x_label: str,
    title: str | None = None,
    chance_mcc: float | None = None,
    n_bins: int = N_BINS,
) -> Figure:
    """Violins of batch MCC (finished runs) per bin of log10 ``column``, on a numeric x axis
    with ticks at the bin edges. Each finished run is a dot at its own log10 C_IMA; a run that
    did not finish but has a known C_IMA is a cross at MCC 0. Above each bin: its run counts,
    failures included. The Spearman correlation is written in the axes."""
    apply_style()
    b = binning(summary, column, n_bins)
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.3), layout="constrained")
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel(x_label)
    ax.set_ylabel("batch MCC")
    handles: list[object] = []

    if b.edges is None:
        ax.text(
            0.5,
            0.5,
            f"no run has a finite C_IMA ({len(summary)} runs)",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color=COLORS["annotation"],
        )
        ax.set_xticks([])
    else:
        edges = b.edges
        width = float(edges[1] - edges[0])
        centres = 0.5 * (edges[:-1] + edges[1:])
        groups = [b.mcc_batch[(b.bins == k) & b.ok] for k in range(b.n_bins)]
        draw_violins(ax, groups, centres, color=COLORS["mcc"], width=0.8 * width, points=False)
        dots = b.ok & np.isfinite(b.log_x) & np.isfinite(b.mcc_batch)
        ax.scatter(
            b.log_x[dots],
            b.mcc_batch[dots],
            s=7,
            color=COLORS["mcc"],
            edgecolors="white",
            linewidths=0.3,
            alpha=0.9,
            zorder=3,
        )
        handles.append(Patch(facecolor=COLORS["mcc"], alpha=0.5, label="batch MCC"))
        crosses = ~b.ok & np.isfinite(b.log_x)
        if crosses.any():
            shown = np.clip(b.log_x[crosses], edges[0], edges[-1])
            ax.scatter(
                shown,
                np.full(shown.shape, 0.01),
                marker="x",
                s=14,
                color=COLORS["cima"],
                linewidths=0.9,
                zorder=4,
                clip_on=False,
            )
            handles.append(
                Line2D([], [], marker="x", ls="", color=COLORS["cima"], label="run not finished")
            )
        top = blended_transform_factory(ax.transData, ax.transAxes)
        for centre, label in zip(centres, bin_count_labels(b), strict=True):
            ax.text(
                centre,
                1.01,
                label,
                transform=top,
                ha="center",
                va="bottom",
                fontsize=7,
                color=COLORS["annotation"],
            )
        ax.set_xticks(edges, [f"{e:.2f}" for e in edges])
        ax.set_xlim(edges[0] - 0.05 * width, edges[-1] + 0.05 * width)
        ax.grid(True, axis="x", alpha=0.3)

    if chance_mcc is not None and np.isfinite(chance_mcc):
        ax.axhline(chance_mcc, color=COLORS["chance"], ls="--", lw=1.0, zorder=1)
        handles.append(Line2D([], [], color=COLORS["chance"], ls="--", lw=1.0, label="chance"))
    ax.text(
        0.02,
        0.04,
        spearman_text(b),
        transform=ax.transAxes,
        ha="left",
        va="bottom",
        fontsize=8,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 2},
        zorder=5,
    )
    if handles:
        ax.legend(handles=handles, loc="lower right", frameon=True, framealpha=0.8)
    if title:
        fig.suptitle(title)
    return fig


# --- caption pieces ------------------------------------------------------------------------------


def _plural(k: int, word: str) -> str:
    return f"{k} {word}{'' if k == 1 else 's'}"


def _fmt_number(value: float) -> str:
    """1e5 -> "1e5", 3e4 -> "3e4", 2.5 -> "2.5"."""
    if value >= 1e3:
        mantissa, exponent = f"{value:.6e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:g}"


def runs_phrase(summary: pd.DataFrame) -> str:
    """ "100 runs (100 data seeds, model seed 1, γ² = 1e5)", read from the data."""
    parts = []
    if "data_seed" in summary:
        parts.append(_plural(int(summary["data_seed"].nunique()), "data seed"))
    if "model_seed" in summary:
        seeds = sorted(summary["model_seed"].dropna().unique().tolist())
        if len(seeds) == 1:
            parts.append(f"model seed {int(seeds[0])}")
        else:
            parts.append(_plural(len(seeds), "model seed"))
    if "gamma2" in summary:
        gammas = sorted(float(g) for g in summary["gamma2"].dropna().unique())
        if gammas:
            parts.append("γ² = " + ", ".join(_fmt_number(g) for g in gammas))
    inner = f" ({', '.join(parts)})" if parts else ""
    return _plural(len(summary), "run") + inner


def accounting_phrase(summary: pd.DataFrame, b: Binning) -> str:
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
    parts = unfinished_counts(pd.Series(b.status[~b.ok], dtype=str))
    if not parts:
        failed = f" All {_plural(n, 'run')} finished."
    else:
        failed = (
            f" Of {_plural(n, 'run')}, {parts}; they are excluded from the violins and the "
            "rank correlation but counted above their bin where their C_IMA is known "
            "(crosses at the bottom)."
        )
    extra = ""
    if b.n_outside:
        extra += (
            f" {_plural(b.n_outside, 'unfinished run')} with a C_IMA outside that range "
            f"{'is' if b.n_outside == 1 else 'are'} counted in the nearest end bin."
        )
    if b.n_unbinned and b.edges is not None:
        unbinned_ok = int((b.ok & (b.bins == UNBINNED)).sum())
        extra += (
            f" {_plural(b.n_unbinned, 'run')} ({unbinned_ok} finished) without a finite "
            f"log10 C_IMA (not recorded, or ≤ 0) {'is' if b.n_unbinned == 1 else 'are'} in no "
            "bin and not shown."
        )
    return bins + failed + extra


def correlation_phrase(b: Binning) -> str:
    if np.isfinite(b.rho):
        value = f"ρ = {b.rho:.2f} (p = {format_p(b.p)}, n = {b.n_rho})"
    else:
        value = f"undefined (n = {b.n_rho}; needs ≥ {MIN_SPEARMAN_RUNS} runs and varying values)"
    return (
        " Spearman rank correlation between C_IMA and batch MCC over the finished runs "
        f"(written on the plot): {value}."
    )
