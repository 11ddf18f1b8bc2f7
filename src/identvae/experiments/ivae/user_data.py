"""Your own data (ivae_user_data): the iVAE and its baselines on a researcher's NPZ file with
``x`` [N, d], ``u`` [N] (integer segment labels) and optionally ``s`` [N, n] (true sources).

The file is checked when the workflow is parsed (identvae.data.segments.check_user_file). With
true sources the figure shows MCC per epoch, without them the ELBO per point; the claim row
reports the final values (the paper makes no claim about a user's data)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from identvae.analysis import phrases
from identvae.analysis.runs import ok_runs
from identvae.claims import Claim, Measured, NoData
from identvae.experiments import registry
from identvae.experiments.inputs import ExperimentData
from identvae.experiments.ivae import common
from identvae.figures.ivae import plot_curves

EXPERIMENT = "ivae_user_data"
TITLE = "iVAE family on your data"


@dataclass(frozen=True)
class Context:
    path: str


def context(settings: dict) -> Context:
    return Context(settings["data"].get("path", "(no path)"))


def has_sources(summary: pd.DataFrame) -> bool:
    return bool(np.isfinite(ok_runs(summary)["mcc"].to_numpy(float)).any())


def table(data: ExperimentData, ctx: Context) -> pd.DataFrame:
    return common.table_by(data.summary, [])


def figure(data: ExperimentData, ctx: Context) -> Figure:
    names = common.models(data.summary)
    labels = {m: common.label(m) for m in names}
    if has_sources(data.summary):
        return plot_curves([("", data.histories)], names, labels, TITLE)
    histories = data.histories.assign(elbo=-data.histories["neg_elbo"])
    return plot_curves(
        [("", histories)], names, labels, TITLE, "elbo", "ELBO per point", unit_range=False
    )


def caption(data: ExperimentData, ctx: Context) -> str:
    summary = data.summary
    shown = "MCC" if has_sources(summary) else "the ELBO per point (the file has no true sources)"
    names = ", ".join(map(common.label, common.models(summary)))
    text = (
        f"{shown} after each epoch of the models {names} "
        f"trained on {ctx.path}. {common.seeds_phrase(summary)} "
        f"{phrases.accounting(summary['status'], 'their curves stop where they diverged')} "
        f"{common.PROTOCOL if has_sources(summary) else ''}"
    )
    return phrases.experiment_caption(EXPERIMENT, registry.get(EXPERIMENT).spec_section, text)


def finals(data: ExperimentData, ctx: Context) -> Measured | NoData:
    summary = data.summary
    used = common.groups(summary, common.models(summary))
    if ok_runs(summary).empty:
        return NoData("no finished run", used)
    column, name = ("mcc", "MCC") if has_sources(summary) else ("neg_elbo", "negative ELBO")
    parts = [
        f"{common.label(m)} {ok_runs(summary[summary['model'] == m])[column].median():.3f}"
        for m in common.models(summary)
    ]
    return Measured(np.nan, f"median final {name}: " + ", ".join(parts), "; ".join(parts), used)


CLAIMS = (
    Claim(
        "iVAE.user_data",
        EXPERIMENT,
        "Your data: the final MCC (with true sources) or ELBO of each model.",
        "no claim (your data)",
        finals,
        threshold=None,
    ),
)
