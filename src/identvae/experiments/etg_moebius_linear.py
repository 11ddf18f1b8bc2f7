"""E2 (etg_moebius_linear): batch MCC against the IMA violation of a Möbius-then-linear mixing.

Uniform sources, mixed by a Möbius transform followed by a random non-orthogonal linear map L
(unit determinant by default), a new mixing per data seed, one model seed, γ² = 1e5 at paper
scale. The paper bins runs on log10 c_IMA(L) (5 bins) and reports that the median batch MCC falls
from ≈ 0.88 in the lowest bin to ≈ 0.6 in the highest.

**Choice** (spec E2): the paper's x axis is the c_IMA of L alone (``linear_cima``, constant over
space); the global C_IMA of the whole composite mixing (``mixing_cima``) is recorded as well and
becomes the x axis with ``plot: {cima_axis: mixing}`` in the experiment's config block. Table,
figure, caption and claims all use the chosen axis (pass the :func:`extras`).

Binning, the figure and the accounting of failed runs: :mod:`identvae.figures.binned_violins`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from identvae.claims import NO_DATA, NOT_REPRODUCED, PARTLY, REPRODUCED, ClaimResult, grade
from identvae.figures.binned_violins import (
    N_BINS,
    UNBINNED,
    accounting_phrase,
    binned_table,
    binning,
    correlation_phrase,
    format_p,
    plot_binned_violins,
    runs_phrase,
)
from identvae.metrics.mcc import settings_chance_mcc

EXPERIMENT = "etg_moebius_linear"
TITLE = "E2: Möbius then a linear map, VAE with uniform prior"

#: ``plot.cima_axis`` value -> summary column on the x axis. "linear" is the paper's.
CIMA_AXES = {"linear": "linear_cima", "mixing": "mixing_cima"}
DEFAULT_CIMA_AXIS = "linear"
X_LABELS = {
    "linear": r"$\log_{10}\, c_{\mathrm{IMA}}(L)$ (linear map)",
    "mixing": r"$\log_{10}\, C_{\mathrm{IMA}}$ of the whole mixing",
}
X_DESCRIPTIONS = {
    "linear": "the c_IMA of the linear map L, which is constant over space",
    "mixing": "the global C_IMA of the whole mixing x = L·Möbius(s), the mean local c_IMA over "
    "the sources",
}
AXIS_CHOICE = {
    "linear": "The x axis is a choice, the paper's: the global C_IMA of the whole mixing is "
    "recorded too (summary column mixing_cima) and is plotted instead with "
    "plot.cima_axis: mixing.",
    "mixing": "The x axis is a choice, not the paper's: the paper plots the c_IMA of L alone "
    "(summary column linear_cima, plotted with plot.cima_axis: linear).",
}
LINEAR_NORM_TEXT = {
    "unit_det": "normalised to unit determinant",
    "unit_columns": "normalised to unit column norms",
}

#: Thresholds of the claims (stated in each claim's detail).
MIN_OK_RUNS = 5
RHO_REPRODUCED, RHO_PARTLY, P_MAX = -0.3, -0.1, 0.05
DROP_REPRODUCED, DROP_PARTLY = 0.15, 0.05


def cima_column(cima_axis: str = DEFAULT_CIMA_AXIS) -> str:
    """The summary column of the chosen x axis (ValueError for an unknown choice)."""
    try:
        return CIMA_AXES[cima_axis]
    except KeyError:
        raise ValueError(
            f"unknown cima_axis {cima_axis!r} for {EXPERIMENT}; known: {sorted(CIMA_AXES)}"
        ) from None


def table(
    summary: pd.DataFrame, cima_axis: str = DEFAULT_CIMA_AXIS, n_bins: int = N_BINS, **_: Any
) -> pd.DataFrame:
    """One row per bin of log10 C_IMA (the chosen axis), see
    :func:`identvae.figures.binned_violins.binned_table` for the columns."""
    return binned_table(summary, cima_column(cima_axis), n_bins)


def figure(
    summary: pd.DataFrame,
    chance_mcc: float | None = None,
    cima_axis: str = DEFAULT_CIMA_AXIS,
    n_bins: int = N_BINS,
    **_: Any,
) -> Figure:
    """Violins of batch MCC per bin of log10 C_IMA (the chosen axis)."""
    return plot_binned_violins(
        summary,
        cima_column(cima_axis),
        x_label=X_LABELS[cima_axis],
        title=TITLE,
        chance_mcc=chance_mcc,
        n_bins=n_bins,
    )


def caption(
    summary: pd.DataFrame,
    chance_mcc: float | None = None,
    cima_axis: str = DEFAULT_CIMA_AXIS,
    n_bins: int = N_BINS,
    linear_norm: str | None = None,
    **_: Any,
) -> str:
    """One-paragraph caption with every count read from the data."""
    column = cima_column(cima_axis)
    b = binning(summary, column, n_bins)
    paper = "the paper's x axis; " if cima_axis == "linear" else ""
    where = f"{paper}summary column {column}"
    norm = f" ({LINEAR_NORM_TEXT[linear_norm]})" if linear_norm in LINEAR_NORM_TEXT else ""
    chance = (
        f" The dashed line marks the batch MCC expected by chance ({chance_mcc:.2f})."
        if chance_mcc is not None and np.isfinite(chance_mcc)
        else ""
    )
    return (
        "Batch MCC between true and inferred sources against log10 of "
        f"{X_DESCRIPTIONS[cima_axis]} ({where}), for a VAE with uniform "
        "prior trained on uniform sources mixed by a Möbius transform followed by a random "
        f"non-orthogonal linear map L{norm}, "
        f"a new mixing per data seed; {runs_phrase(summary)}. "
        f"{accounting_phrase(summary, b)}{correlation_phrase(b)} "
        f"{AXIS_CHOICE[cima_axis]}{chance} "
        "Metrics are taken at the validation check with the lowest negative ELBO."
    )


FIGURES = {EXPERIMENT: (figure, caption)}


def extras(settings: dict) -> dict:
    """From the experiment's config block: the x-axis choice (``plot.cima_axis``, default
    "linear"), the normalisation of L (for the caption) and the chance level of batch MCC."""
    cima_axis = (settings.get("plot") or {}).get("cima_axis", DEFAULT_CIMA_AXIS)
    cima_column(cima_axis)  # validate early
    options = (settings.get("data") or {}).get("mixing_options") or {}
    return {
        "cima_axis": cima_axis,
        "linear_norm": options.get("linear_norm", "unit_det"),
        "chance_mcc": settings_chance_mcc(settings),
    }


# --- claims --------------------------------------------------------------------------------------


def _grade_rank(rho: float, p: float) -> str:
    if rho <= RHO_REPRODUCED and p < P_MAX:
        return REPRODUCED
    if (rho <= RHO_PARTLY and p < P_MAX) or rho <= RHO_REPRODUCED:
        return PARTLY
    return NOT_REPRODUCED


def claims(
    summary: pd.DataFrame, cima_axis: str = DEFAULT_CIMA_AXIS, n_bins: int = N_BINS, **_: Any
) -> list[ClaimResult]:
    """E2.rank (Spearman ρ between C_IMA and batch MCC clearly negative) and E2.drop (median
    batch MCC falls from the lowest to the highest bin), on the chosen C_IMA axis."""
    column = cima_column(cima_axis)
    summary = summary.reset_index(drop=True)
    b = binning(summary, column, n_bins)
    axis = f"x = log10 {column}"
    usable = f"{b.n_rho} finished runs with finite {column} and batch MCC, of {len(summary)} runs"
    results = []

    # E2.rank
    claim = (
        "The more the mixing violates IMA, the lower the MCC: the rank correlation between "
        "the IMA contrast of the mixing and batch MCC is clearly negative."
    )
    rule = (
        f"reproduced if ρ ≤ {RHO_REPRODUCED} and p < {P_MAX}; partly if ρ ≤ {RHO_PARTLY} and "
        f"p < {P_MAX}, or ρ ≤ {RHO_REPRODUCED} with p ≥ {P_MAX}; needs ≥ {MIN_OK_RUNS} runs"
    )
    if b.n_rho < MIN_OK_RUNS or not np.isfinite(b.rho):
        ours, verdict = "n/a", NO_DATA
        why = "too few runs" if b.n_rho < MIN_OK_RUNS else "ρ undefined (constant values)"
        detail = f"{why}: {usable}; {axis}; {rule}"
    else:
        ours = f"ρ = {b.rho:.2f} (p = {format_p(b.p)})"
        verdict = _grade_rank(b.rho, b.p)
        detail = f"Spearman ρ = {b.rho:.3f}, p = {format_p(b.p)}; {usable}; {axis}; {rule}"
    results.append(
        ClaimResult("E2.rank", EXPERIMENT, claim, "clearly negative", ours, verdict, detail)
    )

    # E2.drop
    claim = (
        "Median batch MCC falls from the bin with the smallest IMA violation of the mixing to "
        f"the bin with the largest ({n_bins} log-spaced bins)."
    )
    rule = f"reproduced if the drop ≥ {DROP_REPRODUCED}, partly if ≥ {DROP_PARTLY}"
    tab = binned_table(summary, column, n_bins)
    tab = tab[(tab["bin"] != UNBINNED) & np.isfinite(tab["mcc_batch_median"].astype(float))]
    if b.n_rho < MIN_OK_RUNS or len(tab) < 2:
        ours, verdict = "n/a", NO_DATA
        detail = (
            f"needs ≥ {MIN_OK_RUNS} runs and two bins with a finished run: {usable}, "
            f"{len(tab)} such bins; {axis}; {rule}"
        )
    else:
        low, high = tab.iloc[0], tab.iloc[-1]
        drop = float(low["mcc_batch_median"] - high["mcc_batch_median"])
        ours = f"{low['mcc_batch_median']:.2f} → {high['mcc_batch_median']:.2f} (drop {drop:.2f})"
        verdict = grade(drop, DROP_REPRODUCED, DROP_PARTLY)
        detail = (
            f"median batch MCC {low['mcc_batch_median']:.3f} in bin {low['bin_label']} "
            f"({low['runs'] - low['failed']} ok of {low['runs']} runs) vs "
            f"{high['mcc_batch_median']:.3f} in bin {high['bin_label']} "
            f"({high['runs'] - high['failed']} ok of {high['runs']} runs), drop {drop:.3f}; "
            f"{axis}; {rule}"
        )
    results.append(
        ClaimResult("E2.drop", EXPERIMENT, claim, "≈ 0.88 → ≈ 0.6", ours, verdict, detail)
    )
    return results
