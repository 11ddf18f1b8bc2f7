"""E6 prior ablation (etg_prior_ablation): batch MCC per VAE prior × latent dimension.

Möbius-mixed uniform sources (a conformal mixing, in the IMA class), γ² = 1e5, lr 1e-4; the VAE's
prior (uniform, Laplace, Gaussian) and the dimension (n_sources = latent_dim) are swept; the priors
of one dimension train as one ensemble. The spec asks for a table of MCC and states no number, so
its claim row is *reported*, not judged. The caption states what the theory
(docs/papers/embrace-the-gap.md section 1) leads one to expect, without grading it: it needs only a
factorised prior, since a mismatched prior can be absorbed by an elementwise reparametrisation,
which keeps the decoder's Jacobian columns orthogonal."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from identvae.analysis import phrases
from identvae.analysis.chance import settings_chance_mcc
from identvae.analysis.runs import OK, ok_count, ok_runs
from identvae.claims import Claim, Measured, NoData, Runs
from identvae.experiments import registry
from identvae.experiments.inputs import ExperimentData
from identvae.figures.prior_ablation import plot_by_dim_and_prior

EXPERIMENT = "etg_prior_ablation"
TITLE = "E6: prior ablation, Möbius mixing of uniform sources"
#: The order of the priors in the table and the figure (those present in the summary).
PRIOR_ORDER = ("uniform", "laplace", "gaussian", "beta")

TABLE_COLUMNS = [
    "prior",
    "dim",
    "runs",
    "failed",
    "mcc_batch_median",
    "mcc_batch_min",
    "mcc_batch_max",
    "mcc_batch_spearman_median",
    "mcc_full_median",
    "chance_mcc_batch",
    "epochs_trained_median",
]

#: What the theory leads one to expect (stated in the caption, not judged: the paper gives the
#: table only).
EXPECTATION = (
    "The paper reports these MCCs as a table, without a claim. The theory needs only "
    "a factorised prior, since a mismatched prior can be absorbed by an elementwise "
    "reparametrisation that keeps the decoder's Jacobian columns orthogonal, so one would "
    "expect the sources to be recovered whichever prior is used; this is stated here, not "
    "judged."
)


@dataclass(frozen=True)
class Context:
    """The chance level of batch MCC at each swept dimension."""

    chance_mcc_by_dim: dict[int, float] = field(default_factory=dict)


def context(settings: dict) -> Context:
    """Chance levels at the swept dimensions (the configured latent dimension when ``dim`` is
    not swept), for the metric batch size."""
    dims = settings["sweep"].get("dim", [settings["model"]["latent_dim"]])
    return Context({int(d): settings_chance_mcc(settings, d) for d in dims})


def _priors(summary: pd.DataFrame) -> list[str]:
    present = set(summary["prior"].dropna())
    return [p for p in PRIOR_ORDER if p in present] + sorted(present - set(PRIOR_ORDER))


def _dims(summary: pd.DataFrame) -> list[int]:
    return sorted(int(d) for d in summary["dim"].dropna().unique())


def cell_table(summary: pd.DataFrame, chance_mcc_by_dim: dict[int, float]) -> pd.DataFrame:
    """One row per (prior, dimension): run counts (failed runs included) and statistics over
    the finished runs; a cell whose runs all failed keeps its row with NaN statistics."""
    rows = []
    for prior in _priors(summary):
        for dim in _dims(summary):
            cell = summary[(summary["prior"] == prior) & (summary["dim"] == dim)]
            if cell.empty:
                continue
            ok = ok_runs(cell)
            mcc = ok["mcc_batch"].astype(float)
            rows.append(
                {
                    "prior": prior,
                    "dim": dim,
                    "runs": len(cell),
                    "failed": int((cell["status"] != OK).sum()),
                    "mcc_batch_median": mcc.median(),
                    "mcc_batch_min": mcc.min(),
                    "mcc_batch_max": mcc.max(),
                    "mcc_batch_spearman_median": ok["mcc_batch_spearman"].astype(float).median(),
                    "mcc_full_median": ok["mcc_full"].astype(float).median(),
                    "chance_mcc_batch": chance_mcc_by_dim.get(dim, np.nan),
                    "epochs_trained_median": ok["epochs_trained"].astype(float).median(),
                }
            )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def table(data: ExperimentData, ctx: Context) -> pd.DataFrame:
    return cell_table(data.summary, ctx.chance_mcc_by_dim)


def figure(data: ExperimentData, ctx: Context) -> Figure:
    summary = data.summary
    return plot_by_dim_and_prior(
        summary, _priors(summary), _dims(summary), chance=ctx.chance_mcc_by_dim, title=TITLE
    )


def caption(data: ExperimentData, ctx: Context) -> str:
    """One-paragraph caption with every count read from the data."""
    summary = data.summary
    gammas = ", ".join(phrases.format_power(g) for g in sorted(summary["gamma2"].unique()))
    accounting = phrases.accounting(
        summary["status"], "they are left out of the violins and counted below each dimension"
    )
    text = (
        "Batch MCC between true and inferred sources for VAEs with a uniform, Laplace or "
        "Gaussian prior (colours) trained on Möbius-mixed uniform sources of each dimension, "
        f"γ² = {gammas}, {summary['model_seed'].nunique()} model seeds per cell and one dataset "
        f"per dimension; violins over runs, bars at the median. {accounting} "
        f"{phrases.chance_phrase(ctx.chance_mcc_by_dim)} {EXPECTATION} {phrases.METRICS_AT}"
    )
    return phrases.experiment_caption(EXPERIMENT, registry.get(EXPERIMENT).spec_section, text)


def cell_medians(data: ExperimentData, ctx: Context) -> Measured | NoData:
    """The median batch MCC of every (prior, dimension) cell, reported (no claim to judge)."""
    summary = data.summary
    tab = cell_table(summary, ctx.chance_mcc_by_dim)
    medians = tab["mcc_batch_median"].astype(float)
    groups = {"all cells": Runs(ok_count(summary), len(summary))}
    if not np.isfinite(medians).any():
        return NoData("no finished run in any cell", groups)
    finite = tab[np.isfinite(medians)]
    per_prior = ", ".join(
        f"{prior} {group['mcc_batch_median'].min():.2f}–{group['mcc_batch_median'].max():.2f}"
        for prior, group in finite.groupby("prior", sort=False)
    )
    cells = "; ".join(
        f"{r.prior} dim {r.dim}: "
        + (f"{r.mcc_batch_median:.3f}" if np.isfinite(r.mcc_batch_median) else "no finished run")
        for r in tab.itertuples()
    )
    return Measured(
        float(medians.median()),
        f"cell medians {per_prior}",
        f"median batch MCC per cell: {cells}",
        groups=groups,
    )


CLAIMS = (
    Claim(
        "E6.prior_ablation",
        EXPERIMENT,
        "The paper reports a table of batch MCC per VAE prior (uniform, Laplace, Gaussian) and "
        "latent dimension on Möbius-mixed uniform sources, without a claim.",
        "a table, no claim or number",
        cell_medians,
        None,
    ),
)
