"""E1 (etg_moebius_gamma): summary table, figure and caption of the decoder-precision sweep.

Möbius-mixed uniform sources, a VAE with uniform prior per γ² × model seed. The paper's claim is
that batch MCC jumps to ≈0.96 once γ² ≥ 1e4 while the learned decoder's batch c_IMA falls by
about three orders of magnitude; :func:`identvae.claims.e1_claims` judges it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from identvae.claims import e1_claims
from identvae.figures.gamma_sweep import plot_gamma_sweep, safe_log10
from identvae.metrics.mcc import settings_chance_mcc
from identvae.summary import unfinished_counts

EXPERIMENT = "etg_moebius_gamma"
TITLE = "E1: Möbius mixing, VAE with uniform prior"

TABLE_COLUMNS = [
    "gamma2",
    "log10_gamma2",
    "runs",
    "failed",
    "mcc_batch_median",
    "mcc_batch_mean",
    "mcc_batch_std",
    "mcc_full_median",
    "cima_batch_median",
    "log10_cima_batch_median",
]


def gamma_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per γ² (ascending): run counts (failed runs included) and metric statistics.

    Statistics are over runs with status "ok" only; a γ² whose runs all failed keeps its row,
    with NaN statistics, so the failure is visible in the table."""
    rows = []
    for gamma2, group in summary.groupby("gamma2", sort=True):
        ok = group[group["status"] == "ok"]
        cima_median = ok["cima_batch"].median()
        rows.append(
            {
                "gamma2": float(gamma2),
                "log10_gamma2": float(np.log10(gamma2)) if gamma2 > 0 else np.nan,
                "runs": len(group),
                "failed": int((group["status"] != "ok").sum()),
                "mcc_batch_median": ok["mcc_batch"].median(),
                "mcc_batch_mean": ok["mcc_batch"].mean(),
                "mcc_batch_std": ok["mcc_batch"].std(),
                "mcc_full_median": ok["mcc_full"].median(),
                "cima_batch_median": cima_median,
                "log10_cima_batch_median": float(safe_log10(np.array([cima_median]))[0]),
            }
        )
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.astype({"runs": int, "failed": int})


def figure(summary: pd.DataFrame, chance_mcc: float | None) -> Figure:
    """The E1 violin figure (batch MCC and log10 batch c_IMA per γ²)."""
    return plot_gamma_sweep(summary, chance_mcc=chance_mcc, title=TITLE)


def _count_phrase(counts: pd.Series) -> str:
    """ "20 runs" or "18–20 runs" for per-group run counts."""
    lo, hi = int(counts.min()), int(counts.max())
    return f"{hi} run{'s' if hi != 1 else ''}" if lo == hi else f"{lo}–{hi} runs"


def caption(summary: pd.DataFrame, chance_mcc: float | None = None) -> str:
    """One-paragraph caption for the report and the log, with the counts read from the data."""
    n_gamma = summary["gamma2"].nunique()
    per_gamma = summary.groupby("gamma2").size()
    n_seeds = summary["model_seed"].nunique()
    data_seeds = sorted(summary["data_seed"].dropna().unique().tolist())
    data_phrase = (
        f"one data seed ({int(data_seeds[0])})"
        if len(data_seeds) == 1
        else f"{len(data_seeds)} data seeds"
    )
    parts = unfinished_counts(summary["status"])
    if not parts:
        failed_phrase = f"All {len(summary)} runs finished."
    else:
        failed_phrase = (
            f"Of {len(summary)} runs, {parts}; these are excluded from the violins and statistics "
            "but counted under each γ² position (n = runs shown)."
        )
    chance_phrase = (
        f" The dashed line marks the batch MCC expected by chance ({chance_mcc:.2f})."
        if chance_mcc is not None and np.isfinite(chance_mcc)
        else ""
    )
    return (
        "Batch MCC between true and inferred sources (blue, left axis) and log10 batch c_IMA of "
        "the learned decoder (vermillion, right axis) against the decoder precision γ² for a VAE "
        "with uniform prior trained on Möbius-mixed 3-d uniform sources. "
        f"Each violin summarises the runs at one of {n_gamma} γ² values "
        f"({_count_phrase(per_gamma)} per γ², {n_seeds} model seeds in total, {data_phrase}); "
        "dots are individual runs and the bar is the median. "
        f"{failed_phrase}{chance_phrase} "
        "Metrics are taken at the validation check with the lowest negative ELBO."
    )


def table(summary: pd.DataFrame, **_extras: Any) -> pd.DataFrame:
    return gamma_table(summary)


FIGURES = {EXPERIMENT: (figure, caption)}
claims = e1_claims


def extras(settings: dict) -> dict:
    """The chance level of batch MCC for this latent dimension and metric batch size."""
    return {"chance_mcc": settings_chance_mcc(settings)}
