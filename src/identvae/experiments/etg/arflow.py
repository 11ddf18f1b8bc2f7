"""E6 AR-flow mixing (etg_arflow): batch MCC against the global C_IMA of a random flow mixing.

Gaussian sources, mixed by a randomly initialised (untrained) affine-coupling flow, a new flow
per data seed, VAE with Gaussian prior, one model seed, γ² = 1e5. The x axis is log10 of the
global C_IMA of the whole mixing (``mixing_cima``), binned into 5 log-spaced bins. The authors
found only a weak trend of MCC with C_IMA; the claim below reports what comes out."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure

from identvae.analysis import phrases
from identvae.analysis.binning import N_BINS, binned_table, binning, end_bins
from identvae.analysis.chance import settings_chance_mcc
from identvae.claims import Claim, Measured, NoData
from identvae.experiments import registry
from identvae.experiments.etg import binned
from identvae.experiments.inputs import ExperimentData
from identvae.figures.binned_violins import plot_binned_violins

EXPERIMENT = "etg_arflow"
TITLE = "E6: affine-coupling flow mixing, VAE with Gaussian prior"
CIMA_COLUMN = "mixing_cima"
X_LABEL = r"$\log_{10}\, C_{\mathrm{IMA}}$ of the mixing"


@dataclass(frozen=True)
class Context:
    """The chance level of batch MCC and the bin count."""

    chance_mcc: float
    n_bins: int = N_BINS


def context(settings: dict) -> Context:
    return Context(chance_mcc=settings_chance_mcc(settings))


def table(data: ExperimentData, ctx: Context) -> pd.DataFrame:
    """One row per bin of log10 mixing C_IMA, see
    :func:`identvae.analysis.binning.binned_table` for the columns."""
    return binned_table(data.summary, CIMA_COLUMN, ctx.n_bins)


def figure(data: ExperimentData, ctx: Context) -> Figure:
    """Violins of batch MCC per bin of log10 mixing C_IMA."""
    return plot_binned_violins(
        data.summary,
        CIMA_COLUMN,
        x_label=X_LABEL,
        title=TITLE,
        chance_mcc=ctx.chance_mcc,
        n_bins=ctx.n_bins,
    )


def caption(data: ExperimentData, ctx: Context) -> str:
    """One-paragraph caption with every count read from the data."""
    b = binning(data.summary, CIMA_COLUMN, ctx.n_bins)
    text = (
        "Batch MCC between true and inferred sources against log10 of the global C_IMA of the "
        "whole mixing (mean of the local c_IMA over the sources), for a VAE with Gaussian prior "
        "trained on Gaussian sources mixed by a randomly initialised affine-coupling flow, a new "
        f"flow per data seed; {binned.caption_accounting(data.summary, b)} "
        f"{phrases.chance_phrase(ctx.chance_mcc)} {phrases.METRICS_AT}"
    )
    return phrases.experiment_caption(EXPERIMENT, registry.get(EXPERIMENT).spec_section, text)


def trend(data: ExperimentData, ctx: Context) -> Measured | NoData:
    """Spearman ρ between the mixing's C_IMA and batch MCC, with the end bins' medians."""
    b, outcome = binned.rank(data, CIMA_COLUMN, ctx.n_bins)
    if isinstance(outcome, NoData):
        return outcome
    extra = ""
    ends = end_bins(data.summary.reset_index(drop=True), CIMA_COLUMN, ctx.n_bins)
    if ends is not None:
        extra += (
            f"; median batch MCC {ends['mcc_batch_median'].iloc[0]:.3f} in the lowest bin, "
            f"{ends['mcc_batch_median'].iloc[-1]:.3f} in the highest"
        )
    return Measured(
        outcome.value, outcome.ours, outcome.detail + extra, outcome.groups, outcome.holds
    )


CLAIMS = (
    Claim(
        "E6.arflow_trend",
        EXPERIMENT,
        "For random affine-coupling-flow mixings the authors found only a weak trend of batch "
        "MCC with the mixing's C_IMA and asked to report what comes out: the rank correlation "
        "and the end bins' medians.",
        "a weak trend, no number",
        trend,
        None,
        min_ok_runs=binned.MIN_OK_RUNS,
    ),
)
