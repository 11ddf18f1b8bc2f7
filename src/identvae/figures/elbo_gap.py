"""E4 figure: the ELBO gap of a fixed (true) decoder against the decoder precision.

Per γ², one point per run (model seed) for each of E[log p − ELBO*], E[L_IMA − ELBO*] and the
importance-sampled finite-γ gap E[log p_γ − ELBO*], a line through their medians, and the
mixing's C_IMA as a horizontal line: the theory says the first tends to C_IMA and the second to
0 as γ grows."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from identvae.analysis.elbo_gap import mixing_cima
from identvae.analysis.runs import OK, ok_runs
from identvae.figures.style import FIG_WIDTH, PALETTE, apply_style

#: (summary column, legend label, colour, marker, filled) of the plotted gaps.
SERIES = (
    ("gap_logp", r"$\mathbb{E}[\log p - \mathrm{ELBO}^*]$", PALETTE[0], "o", True),
    ("gap_lima", r"$\mathbb{E}[L_{\mathrm{IMA}} - \mathrm{ELBO}^*]$", PALETTE[2], "s", True),
    ("gap_is", r"$\mathbb{E}[\log p_\gamma - \mathrm{ELBO}^*]$ (IS)", PALETTE[4], "D", False),
)
CIMA_COLOR = PALETTE[3]


def log10_gamma2(summary: pd.DataFrame) -> np.ndarray:
    return np.log10(summary["gamma2"].to_numpy(dtype=float))


def plot_elbo_gap(summary: pd.DataFrame, title: str | None = None) -> Figure:
    """Gaps against log10 γ² (seeds as points, medians as lines) with C_IMA marked.

    Runs that did not finish have no point; each γ² with such runs is annotated with their
    count at the top of the axis, so they are never dropped silently."""
    apply_style()
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.4), layout="constrained")
    ok = ok_runs(summary)
    gammas = np.sort(summary["gamma2"].dropna().unique().astype(float))
    xs = np.log10(gammas) if gammas.size else np.array([])
    rng = np.random.default_rng(0)
    handles: list[object] = []
    n_series = len(SERIES)
    for j, (column, label, color, marker, filled) in enumerate(SERIES):
        if column not in ok:
            continue
        offset = (j - (n_series - 1) / 2) * 0.05  # keep the three clouds apart
        x = log10_gamma2(ok) + offset + rng.uniform(-0.012, 0.012, size=len(ok))
        y = ok[column].to_numpy(dtype=float)
        face = color if filled else "none"
        ax.scatter(x, y, s=14, marker=marker, facecolors=face, edgecolors=color, lw=0.8, zorder=3)
        medians = np.array([ok.loc[ok["gamma2"] == g, column].median() for g in gammas])
        finite = np.isfinite(medians)
        ax.plot(xs[finite] + offset, medians[finite], color=color, lw=1.3, zorder=2)
        handles.append(
            Line2D([], [], color=color, marker=marker, mfc=face, mec=color, lw=1.3, label=label)
        )
    cima = mixing_cima(summary)
    if np.isfinite(cima):
        ax.axhline(cima, color=CIMA_COLOR, ls="--", lw=1.2, zorder=1)
        shown = f"{cima:.3g}" if abs(cima) >= 1e-6 else "0"
        label = rf"$C_{{\mathrm{{IMA}}}}$ of the mixing = {shown}"
        handles.append(Line2D([], [], color=CIMA_COLOR, ls="--", lw=1.2, label=label))
    ax.axhline(0.0, color="#777777", lw=0.6, zorder=0)
    for g, x in zip(gammas, xs, strict=True):
        rows = summary[summary["gamma2"] == g]
        failed = rows[rows["status"] != OK] if "status" in rows else rows.iloc[:0]
        if len(failed):
            ax.annotate(
                f"{len(failed)} not ok",
                (x, 1.0),
                xycoords=("data", "axes fraction"),
                ha="center",
                va="top",
                fontsize=7,
                color="#aa0000",
            )
    if xs.size:
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.set_xlim(xs.min() - 0.3, xs.max() + 0.3)
    ax.set_xlabel(r"$\log_{10}\gamma^2$ (decoder precision)")
    ax.set_ylabel("gap (nats per sample)")
    ax.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=2,
        frameon=False,
        handlelength=2.0,
    )
    if title:
        fig.suptitle(title)
    return fig
