"""E4 (etg_gap_ima): the ELBO gap with the decoder fixed to an IMA-class mixing, an elementwise
nonlinearity followed by an orthogonal matrix (C_IMA = 0). Expected: E[log p − ELBO*] → 0 as
γ² grows. The logic is shared with the IMA-violating experiment:
:mod:`identvae.experiments.etg.elbo_gap`.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from identvae.experiments.etg import elbo_gap as gap
from identvae.experiments.inputs import ExperimentData

EXPERIMENT = "etg_gap_ima"
TITLE = "E4: ELBO gap, decoder fixed to an elementwise map then a rotation (IMA class)"
IMA_CLASS = True

Context = gap.Context
context = gap.context


def table(data: ExperimentData, ctx: Context) -> pd.DataFrame:
    return gap.table(data, ctx)


def figure(data: ExperimentData, ctx: Context) -> Figure:
    return gap.figure(data, TITLE)


def caption(data: ExperimentData, ctx: Context) -> str:
    return gap.caption(data, ctx, EXPERIMENT)


CLAIMS = gap.claims(EXPERIMENT, ima_class=IMA_CLASS)
