"""Violins of batch MCC per bin of a log-scaled IMA contrast of the true mixing (E2, E6).

The bins, the per-bin table and the rank correlation come from
:mod:`identvae.analysis.binning`; this module only draws them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory

from identvae.analysis.binning import N_BINS, Binning, binning
from identvae.analysis.phrases import format_p
from identvae.figures.gamma_sweep import draw_violins
from identvae.figures.style import COLORS, FIG_WIDTH, apply_style


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
