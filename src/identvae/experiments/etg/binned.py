"""What the binned experiments (E2: Möbius then a linear map; E6: an affine-coupling flow) share:
the per-bin table, the figure, the caption's accounting and the rank-correlation statistic, all
on the C_IMA column the experiment plots."""

from __future__ import annotations

import numpy as np
import pandas as pd

from identvae.analysis import phrases
from identvae.analysis.binning import Binning, binning
from identvae.claims import Measured, NoData, Runs
from identvae.experiments.inputs import ExperimentData

#: Fewer finished runs with a finite C_IMA and batch MCC than this: a claim has no data.
MIN_OK_RUNS = 5
#: The significance level of the rank correlation.
P_MAX = 0.05


def usable(b: Binning, summary: pd.DataFrame) -> dict[str, Runs]:
    """The group the binned claims need: finished runs with finite C_IMA and batch MCC."""
    return {f"finite {b.column} and batch MCC": Runs(b.n_rho, len(summary))}


def rank(data: ExperimentData, column: str, n_bins: int) -> tuple[Binning, Measured | NoData]:
    """Spearman ρ between log10 ``column`` and batch MCC (the graded value), its p-value
    (condition ``significant``: p < ``P_MAX``) and the runs it used."""
    summary = data.summary.reset_index(drop=True)
    b = binning(summary, column, n_bins)
    groups = usable(b, summary)
    if b.n_rho >= MIN_OK_RUNS and not np.isfinite(b.rho):
        return b, NoData("ρ undefined (constant values)", groups)
    return b, Measured(
        b.rho,
        f"ρ = {b.rho:.2f} (p = {phrases.format_p(b.p)})",
        f"Spearman ρ = {b.rho:.3f}, p = {phrases.format_p(b.p)}; x = log10 {column}",
        groups=groups,
        holds={"significant": bool(b.p < P_MAX)},
    )


def caption_accounting(summary: pd.DataFrame, b: Binning) -> str:
    """Runs, bins, failures and the rank correlation: the middle of both captions."""
    return (
        f"{phrases.runs_phrase(summary)}. {phrases.binned_accounting(summary, b)} "
        f"{phrases.correlation_phrase(b)}"
    )
