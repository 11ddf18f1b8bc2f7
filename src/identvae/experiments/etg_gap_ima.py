"""E4 (etg_gap_ima): the ELBO gap with the decoder fixed to an IMA-class mixing, an elementwise
nonlinearity followed by an orthogonal matrix (C_IMA = 0). Expected: E[log p − ELBO*] → 0 as
γ² grows. The logic is shared with the IMA-violating experiment:
:mod:`identvae.experiments.etg_elbo_gap`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from identvae.claims import ClaimResult
from identvae.experiments import etg_elbo_gap as gap

EXPERIMENT = "etg_gap_ima"
TITLE = "E4: ELBO gap, decoder fixed to an elementwise map then a rotation (IMA class)"
IMA_CLASS = True

table = gap.table
extras = gap.extras


def figure(summary: pd.DataFrame, **extras: Any) -> Figure:
    return gap.figure(summary, title=TITLE, **extras)


def caption(summary: pd.DataFrame, **extras: Any) -> str:
    return gap.caption(summary, **extras)


FIGURES = {EXPERIMENT: (figure, caption)}


def claims(summary: pd.DataFrame, **extras: Any) -> list[ClaimResult]:
    return gap.claims(summary, experiment=EXPERIMENT, ima_class=IMA_CLASS, **extras)
