"""Model selection by the ELBO (ivae_model_selection, the supplement): the final ELBO against
MCC over a grid of hidden widths, depths and learning rates of the iVAE on the Fig. 2a data.
The paper: a higher ELBO goes with a higher MCC, so the ELBO can select models without ground
truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from identvae.analysis import phrases
from identvae.analysis.correlation import rank_correlation
from identvae.analysis.runs import ok_runs
from identvae.claims import Claim, Condition, Measured, NoData, Runs, Threshold
from identvae.experiments import registry
from identvae.experiments.inputs import ExperimentData
from identvae.experiments.ivae import common
from identvae.figures.ivae import plot_elbo_mcc

EXPERIMENT = "ivae_model_selection"
TITLE = "iVAE supplement: the ELBO selects models"
P_MAX = 0.05


Context = common.SegmentData
context = common.segment_data


def table(data: ExperimentData, ctx: Context) -> pd.DataFrame:
    return common.table_by(data.summary, ["hidden", "layers", "lr"])


def correlations(summary: pd.DataFrame) -> dict[int, tuple[float, float, int]]:
    """Per data seed: Spearman ρ between the final ELBO and the final MCC of its finished
    runs, its p-value and the run count (ELBOs of different datasets are not comparable, so
    the selection is judged within each dataset)."""
    return {
        int(seed): rank_correlation(-cell["neg_elbo"].to_numpy(float), cell["mcc"].to_numpy(float))
        for seed, cell in ok_runs(summary).groupby("data_seed")
    }


def correlation_phrase(summary: pd.DataFrame) -> str:
    per_seed = correlations(summary)
    return "; ".join(
        f"data seed {seed}: ρ = {rho:.2f} (p = {phrases.format_p(p)}, {n} runs)"
        for seed, (rho, p, n) in per_seed.items()
    )


def relative_elbo(summary: pd.DataFrame) -> pd.DataFrame:
    """The runs with ``elbo_gap``: each run's final ELBO minus the best final ELBO on its
    dataset (so that runs on different draws share an axis)."""
    elbo = -summary["neg_elbo"]
    return summary.assign(elbo_gap=elbo - elbo.groupby(summary["data_seed"]).transform("max"))


def panel_title(name: str, summary: pd.DataFrame) -> str:
    per_seed = list(correlations(summary).values())
    if len(per_seed) == 1:
        rho, p, n = per_seed[0]
        return f"{name}\nρ = {rho:.2f} (p = {phrases.format_p(p)}, {n} runs)"
    listed = ", ".join(f"{rho:.2f}" for rho, _, _ in per_seed)
    return f"{name}\nρ within each draw: {listed}"


def figure(data: ExperimentData, ctx: Context) -> Figure:
    panels = [
        (panel_title(draws.name, rows), relative_elbo(rows))
        for draws, rows in common.by_draws(data.summary)
    ]
    return plot_elbo_mcc(panels, TITLE)


def caption(data: ExperimentData, ctx: Context) -> str:
    summary = data.summary
    widths = ", ".join(str(int(v)) for v in sorted(summary["hidden"].unique()))
    depths = ", ".join(str(int(v)) for v in sorted(summary["layers"].unique()))
    rates = ", ".join(f"{v:g}" for v in sorted(summary["lr"].unique()))
    text = (
        f"Final ELBO per point (one sample, analytic KL) against final MCC of iVAEs with hidden "
        f"width {widths}, {depths} layers and learning rate {rates}, on {ctx.n_segments} "
        f"segments of {ctx.segment_size} points (n = d = {ctx.n_sources}) drawn by the authors' "
        f"generator; left its draw for data seed 1, right fresh draws. The x axis is each "
        f"run's ELBO minus the best on its dataset; Spearman ρ within each dataset: "
        f"{correlation_phrase(summary)}. {common.seeds_phrase(summary)} "
        f"{phrases.accounting(summary['status'], 'they are not drawn')} {common.PROTOCOL}"
    )
    return phrases.experiment_caption(EXPERIMENT, registry.get(EXPERIMENT).spec_section, text)


def elbo_mcc(data: ExperimentData, ctx: Context) -> Measured | NoData:
    """The median over data seeds of ρ(ELBO, MCC) within each; "significant" when p < P_MAX
    on at least half of them."""
    summary = data.summary
    used = {"iVAE grid": Runs(len(ok_runs(summary)), len(summary))}
    per_seed = {k: v for k, v in correlations(summary).items() if np.isfinite(v[0])}
    if not per_seed:
        return NoData(
            "a rank correlation needs 3 finished runs with varying values per dataset", used
        )
    rhos = np.array([rho for rho, _, _ in per_seed.values()])
    significant = np.mean([p < P_MAX for _, p, _ in per_seed.values()]) >= 0.5
    rho = float(np.median(rhos))
    return Measured(
        rho,
        f"ρ = {rho:.2f} (median over {len(rhos)} dataset{'s' if len(rhos) > 1 else ''})",
        f"Spearman ρ between the final ELBO and the final MCC within each dataset, "
        f"{correlation_phrase(summary)}",
        groups=used,
        holds={"significant": bool(significant)},
    )


CLAIMS = common.claims_on_draws(
    Claim(
        "iVAE.model_selection",
        EXPERIMENT,
        "A higher final ELBO goes with a higher MCC, so the ELBO can select models.",
        "positive association",
        elbo_mcc,
        Threshold(
            "Spearman ρ(ELBO, MCC)",
            reproduced=0.3,
            partly=0.0,
            partly_strict=True,
            conditions=(
                Condition("significant", f"p < {P_MAX} on at least half the datasets", "demote"),
            ),
        ),
        min_ok_runs=3,
    )
)
