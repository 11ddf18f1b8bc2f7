"""E4's reference level: the C_IMA of the true mixing, drawn as a line and named in captions."""

from __future__ import annotations

import pandas as pd

from identvae.analysis.runs import finite_median, ok_runs


def mixing_cima(summary: pd.DataFrame) -> float:
    """C_IMA of the true mixing: the median over finished runs of ``cima_mixing`` (the same
    dataset for every run, so the values differ only by the validation subsample)."""
    ok = ok_runs(summary)
    return finite_median(ok["cima_mixing"]) if "cima_mixing" in ok else float("nan")
