"""Your causal data (ivae_nonsens_user): NonSENS with the iVAE and TCL on a researcher's CSV or
NPZ of observed variables with a segment column, optionally scored against a reference edge list
(README, "Your own causal data").

The file and the edge list are checked when the workflow is parsed
(identvae.data.sem.check_causal_file). The table is the edge list of every pair fit (p-values,
decision, the edge); the figure draws each method's graph; the claim row reports the scores
(the paper makes no claim about a user's data)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from identvae.claims import Claim
from identvae.experiments.inputs import ExperimentData
from identvae.experiments.ivae import nonsens

EXPERIMENT = "ivae_nonsens_user"
TITLE = "NonSENS on your data"

Context = nonsens.Context
context = nonsens.context


def table(data: ExperimentData, ctx: Context) -> pd.DataFrame:
    return nonsens.pair_table(data.summary, ctx)


def figure(data: ExperimentData, ctx: Context) -> Figure:
    return nonsens.draw(data, ctx, TITLE)


def caption(data: ExperimentData, ctx: Context) -> str:
    return nonsens.describe(data, ctx, EXPERIMENT)


CLAIMS = (
    Claim(
        "iVAE.nonsens_user",
        EXPERIMENT,
        "Your data: each method's graph scores (with a reference graph) and pair-fit MCC.",
        "no claim (your data)",
        nonsens.method_scores,
        threshold=None,
    ),
)
