"""E6 AR-flow mixing (etg_arflow): batch MCC against the global C_IMA of a random flow mixing.

Gaussian sources, mixed by a randomly initialised (untrained) affine-coupling flow, a new flow
per data seed, VAE with Gaussian prior, one model seed, γ² = 1e5. The x axis is log10 of the
global C_IMA of the whole mixing (``mixing_cima``), binned into 5 log-spaced bins. The authors
found only a weak trend of MCC with C_IMA; the claim below reports what comes out.

Binning, the figure and the accounting of failed runs: :mod:`identvae.figures.binned_violins`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from identvae.claims import NO_DATA, NOT_REPRODUCED, PARTLY, REPRODUCED, ClaimResult
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

EXPERIMENT = "etg_arflow"
TITLE = "E6: affine-coupling flow mixing, VAE with Gaussian prior"
CIMA_COLUMN = "mixing_cima"
X_LABEL = r"$\log_{10}\, C_{\mathrm{IMA}}$ of the mixing"

#: Thresholds of the claim (stated in its detail).
MIN_OK_RUNS = 5
RHO_TREND, P_MAX = -0.1, 0.05
#: |ρ| from which the detail notes that the trend is stronger than the paper's "weak".
RHO_STRONG = 0.3


def table(summary: pd.DataFrame, n_bins: int = N_BINS, **_: Any) -> pd.DataFrame:
    """One row per bin of log10 mixing C_IMA, see
    :func:`identvae.figures.binned_violins.binned_table` for the columns."""
    return binned_table(summary, CIMA_COLUMN, n_bins)


def figure(
    summary: pd.DataFrame, chance_mcc: float | None = None, n_bins: int = N_BINS, **_: Any
) -> Figure:
    """Violins of batch MCC per bin of log10 mixing C_IMA."""
    return plot_binned_violins(
        summary, CIMA_COLUMN, x_label=X_LABEL, title=TITLE, chance_mcc=chance_mcc, n_bins=n_bins
    )


def caption(
    summary: pd.DataFrame, chance_mcc: float | None = None, n_bins: int = N_BINS, **_: Any
) -> str:
    """One-paragraph caption with every count read from the data."""
    b = binning(summary, CIMA_COLUMN, n_bins)
    chance = (
        f" The dashed line marks the batch MCC expected by chance ({chance_mcc:.2f})."
        if chance_mcc is not None and np.isfinite(chance_mcc)
        else ""
    )
    return (
        "Batch MCC between true and inferred sources against log10 of the global C_IMA of the "
        "whole mixing (mean of the local c_IMA over the sources), for a VAE with Gaussian prior "
        "trained on Gaussian sources mixed by a randomly initialised affine-coupling flow, a new "
        f"flow per data seed; {runs_phrase(summary)}. "
        f"{accounting_phrase(summary, b)}{correlation_phrase(b)}{chance} "
        "Metrics are taken at the validation check with the lowest negative ELBO."
    )


FIGURES = {EXPERIMENT: (figure, caption)}


def extras(settings: dict) -> dict:
    """The chance level of batch MCC for this latent dimension and metric batch size."""
    return {"chance_mcc": settings_chance_mcc(settings)}


def claims(summary: pd.DataFrame, n_bins: int = N_BINS, **_: Any) -> list[ClaimResult]:
    """E6.arflow_trend: the sign and significance of the rank correlation between the
    mixing's C_IMA and batch MCC (the paper saw only a weak negative trend)."""
    summary = summary.reset_index(drop=True)
    b = binning(summary, CIMA_COLUMN, n_bins)
    usable = (
        f"{b.n_rho} finished runs with finite {CIMA_COLUMN} and batch MCC, of {len(summary)} runs"
    )
    claim = (
        "For random affine-coupling-flow mixings, batch MCC shows (at most) a weak negative "
        "trend with the mixing's C_IMA."
    )
    rule = (
        f"reproduced if Spearman ρ ≤ {RHO_TREND} and p < {P_MAX} (a negative trend is "
        f"detectable); partly if ρ < 0 otherwise (negative but weak or not significant); "
        f"not reproduced if ρ ≥ 0; needs ≥ {MIN_OK_RUNS} runs"
    )
    if b.n_rho < MIN_OK_RUNS or not np.isfinite(b.rho):
        why = "too few runs" if b.n_rho < MIN_OK_RUNS else "ρ undefined (constant values)"
        return [
            ClaimResult(
                "E6.arflow_trend",
                EXPERIMENT,
                claim,
                "weak trend",
                "n/a",
                NO_DATA,
                f"{why}: {usable}; {rule}",
            )
        ]
    if b.rho <= RHO_TREND and b.p < P_MAX:
        verdict = REPRODUCED
    elif b.rho < 0:
        verdict = PARTLY
    else:
        verdict = NOT_REPRODUCED
    strength = (
        f"; |ρ| ≥ {RHO_STRONG}: stronger than the paper's weak trend"
        if b.rho <= -RHO_STRONG
        else ""
    )
    tab = binned_table(summary, CIMA_COLUMN, n_bins)
    tab = tab[(tab["bin"] != UNBINNED) & np.isfinite(tab["mcc_batch_median"].astype(float))]
    medians = ""
    if len(tab) >= 2:
        medians = (
            f"; median batch MCC {tab['mcc_batch_median'].iloc[0]:.3f} in the lowest bin, "
            f"{tab['mcc_batch_median'].iloc[-1]:.3f} in the highest"
        )
    ours = f"ρ = {b.rho:.2f} (p = {format_p(b.p)})"
    detail = f"Spearman ρ = {b.rho:.3f}, p = {format_p(b.p)}; {usable}{medians}{strength}; {rule}"
    return [ClaimResult("E6.arflow_trend", EXPERIMENT, claim, "weak trend", ours, verdict, detail)]
