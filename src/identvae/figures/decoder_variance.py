"""Where a learned or MLE decoder precision ends up, and the MCC it gives (E6).

Left: log10 of the γ² each run used at its selected check against the γ² it started from, one
colour per decoder-variance mode (the diagonal is "did not move"). Right: batch MCC against that
reached γ²."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from identvae.analysis.runs import OK
from identvae.analysis.scales import safe_log10
from identvae.figures.style import COLORS, FIG_WIDTH, PALETTE, apply_style

#: The summary column with the γ² a run's decoder used at its selected check.
REACHED = "decoder_gamma2"
MARKERS = ("o", "s", "^", "D")


def plot_decoder_variance(
    summary: pd.DataFrame,
    modes: Sequence[str],
    *,
    chance_mcc: float | None = None,
    title: str | None = None,
) -> Figure:
    """Two panels, finished runs only (the caption counts the others)."""
    apply_style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(FIG_WIDTH, 2.6))
    rng = np.random.default_rng(0)
    ok = summary[summary["status"] == OK]
    starts = safe_log10(summary["gamma2"].to_numpy(float))
    lo, hi = np.nanmin(starts, initial=0.0), np.nanmax(starts, initial=1.0)
    for j, mode in enumerate(modes):
        runs = ok[ok["decoder_variance"] == mode]
        start = safe_log10(runs["gamma2"].to_numpy(float))
        reached = safe_log10(runs[REACHED].to_numpy(float)) if REACHED in runs else start * np.nan
        # a marker and a side of the starting γ² per mode: modes often reach the same γ²
        style = {
            "s": 16,
            "color": PALETTE[j],
            "marker": MARKERS[j % len(MARKERS)],
            "edgecolors": "white",
            "linewidths": 0.3,
        }
        offset = (j - (len(modes) - 1) / 2) * 0.25
        jitter = offset + rng.uniform(-0.06, 0.06, size=len(start))
        left.scatter(start + jitter, reached, label=mode, **style)
        right.scatter(reached, runs["mcc_batch"].to_numpy(float), label=mode, **style)
        lo, hi = np.nanmin([lo, *reached], initial=lo), np.nanmax([hi, *reached], initial=hi)
    diagonal = np.array([lo - 0.5, hi + 0.5])
    left.plot(diagonal, diagonal, color=COLORS["annotation"], ls=":", lw=1.0, label="unchanged")
    left.set_xlabel(r"initial $\log_{10}\gamma^2$")
    left.set_ylabel(r"reached $\log_{10}\gamma^2$ (selected check)")
    right.set_xlabel(r"reached $\log_{10}\gamma^2$")
    right.set_ylabel("batch MCC")
    right.set_ylim(0, 1.02)
    if chance_mcc is not None and np.isfinite(chance_mcc):
        right.axhline(chance_mcc, color=COLORS["chance"], ls="--", lw=1.0, label="chance")
    for ax in (left, right):
        ax.grid(True, axis="both")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    # below the panels: inside, it would hide runs
    handles, labels = left.get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        title="decoder variance",
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=len(labels),
    )
    return fig
