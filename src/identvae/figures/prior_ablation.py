"""Batch MCC per latent dimension, one violin per prior side by side (E6 prior ablation).

Any per-run metric grouped by two categorical settings can be drawn this way; the axis helpers
come from :mod:`identvae.figures.gamma_sweep`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from identvae.analysis.runs import OK
from identvae.figures.gamma_sweep import draw_violins
from identvae.figures.style import COLORS, FIG_WIDTH, PALETTE, apply_style


def plot_by_dim_and_prior(
    summary: pd.DataFrame,
    priors: Sequence[str],
    dims: Sequence[int],
    *,
    metric: str = "mcc_batch",
    y_label: str = "batch MCC",
    chance: Mapping[int, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Violins of ``metric`` over the finished runs of each (dimension, prior) cell; below each
    dimension, the number of finished runs per prior. ``chance`` (per dimension) is drawn as a
    short dashed line."""
    apply_style()
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 2.9))
    width = 0.8 / max(len(priors), 1)
    labels = []
    for i, dim in enumerate(dims):
        counts = []
        for j, prior in enumerate(priors):
            cell = summary[(summary["dim"] == dim) & (summary["prior"] == prior)]
            ok = cell[cell["status"] == OK]
            pos = i + (j - (len(priors) - 1) / 2) * width
            draw_violins(
                ax, [ok[metric].to_numpy(float)], [pos], color=PALETTE[j], width=0.9 * width
            )
            counts.append(f"{len(ok)}/{len(cell)}")
        labels.append(f"{dim}\n" + " ".join(counts))
        if chance and np.isfinite(chance.get(dim, np.nan)):
            ax.hlines(chance[dim], i - 0.45, i + 0.45, color=COLORS["chance"], ls="--", lw=1.0)
    ax.set_xticks(range(len(dims)), labels)
    ax.set_xlim(-0.6, len(dims) - 0.4)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("latent dimension (= number of sources)\nfinished / all runs per prior")
    ax.set_ylabel(y_label)
    handles = [Patch(color=PALETTE[j], alpha=0.5, label=p) for j, p in enumerate(priors)]
    if chance:
        handles.append(Line2D([], [], color=COLORS["chance"], ls="--", lw=1.0, label="chance"))
    # outside the axes: inside, it would cover the chance lines or the low-dimensional violins
    ax.legend(handles=handles, title="VAE prior", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
