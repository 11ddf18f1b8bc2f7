"""Model selection by the ELBO (ivae_model_selection, the supplement): the final ELBO against
MCC over a grid of hidden widths, depths and learning rates of the iVAE on the Fig. 2a data.
The paper: a higher ELBO goes with a higher MCC, so the ELBO can select models without ground
truth."""

from __future__ import annotations

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


def correlation(summary: pd.DataFrame) -> tuple[float, float, int]:
    ok = ok_runs(summary)
    return rank_correlation(-ok["neg_elbo"].to_numpy(float), ok["mcc"].to_numpy(float))


def figure(data: ExperimentData, ctx: Context) -> Figure:
    rho, p, n = correlation(data.summary)
    note = f"Spearman ρ = {rho:.2f} (p = {phrases.format_p(p)}, {n} runs)"
    return plot_elbo_mcc(data.summary, TITLE, note)


def caption(data: ExperimentData, ctx: Context) -> str:
    summary = data.summary
    widths = ", ".join(str(int(v)) for v in sorted(summary["hidden"].unique()))
    depths = ", ".join(str(int(v)) for v in sorted(summary["layers"].unique()))
    rates = ", ".join(f"{v:g}" for v in sorted(summary["lr"].unique()))
    rho, p, n = correlation(summary)
    text = (
        f"Final ELBO per point (one sample, analytic KL) against final MCC of iVAEs with hidden "
        f"width {widths}, {depths} layers and learning rate {rates}, on {ctx.n_segments} "
        f"segments of {ctx.segment_size} points (n = d = {ctx.n_sources}); Spearman ρ = "
        f"{rho:.2f} (p = {phrases.format_p(p)}) over {n} finished runs. "
        f"{common.seeds_phrase(summary)} "
        f"{phrases.accounting(summary['status'], 'they are not drawn')} {common.PROTOCOL}"
    )
    return phrases.experiment_caption(EXPERIMENT, registry.get(EXPERIMENT).spec_section, text)


def elbo_mcc(data: ExperimentData, ctx: Context) -> Measured | NoData:
    summary = data.summary
    rho, p, n = correlation(summary)
    used = {"iVAE grid": Runs(len(ok_runs(summary)), len(summary))}
    if n < 3 or rho != rho:
        return NoData(f"a rank correlation needs 3 finished runs with varying values ({n})", used)
    return Measured(
        rho,
        f"ρ = {rho:.2f} (p = {phrases.format_p(p)}, {n} runs)",
        f"Spearman ρ between the final ELBO and the final MCC over {n} runs, p = "
        f"{phrases.format_p(p)}",
        groups=used,
        holds={"significant": p < P_MAX},
    )


CLAIMS = (
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
            conditions=(Condition("significant", f"p < {P_MAX}", "demote"),),
        ),
        min_ok_runs=3,
    ),
)
