"""E4 (etg_gap_triangular): the ELBO gap with the decoder fixed to an IMA-violating mixing, an
invertible triangular MLP. Expected: E[log p − ELBO*] → C_IMA > 0 and E[L_IMA − ELBO*] → 0 as γ²
grows. The logic is shared with the IMA-class experiment: :mod:`identvae.experiments.etg.elbo_gap`.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from identvae.experiments.etg import elbo_gap as gap
from identvae.experiments.inputs import ExperimentData

EXPERIMENT = "etg_gap_triangular"
TITLE = "E4: ELBO gap, decoder fixed to a triangular MLP (violates IMA)"
IMA_CLASS = False

Context = gap.Context
context = gap.context


def table(data: ExperimentData, ctx: Context) -> pd.DataFrame:
    return gap.table(data, ctx)


def figure(data: ExperimentData, ctx: Context) -> Figure:
    return gap.figure(data, TITLE)


def caption(data: ExperimentData, ctx: Context) -> str:
    return gap.caption(data, ctx, EXPERIMENT)


CLAIMS = gap.claims(EXPERIMENT, ima_class=IMA_CLASS)
