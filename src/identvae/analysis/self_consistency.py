"""E3's points on log-log axes: posterior variances and per-run metrics against log10 γ².

The figure scatters them and the experiment's table and claims fit them, from the same rows."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from identvae.analysis.runs import ok_runs
from identvae.analysis.scales import safe_log10

_LATENT = re.compile(r"^latent_variance_(\d+)$")
VARIANCE_COLUMNS = ["run_id", "gamma2", "log10_gamma2", "dim", "log10_var", "log10_pred"]


def latent_dims(summary: pd.DataFrame) -> list[int]:
    """Latent dimensions k with a ``latent_variance_k`` column, in order."""
    dims = [int(m.group(1)) for c in summary.columns if (m := _LATENT.match(str(c)))]
    return sorted(dims)


def variance_points(summary: pd.DataFrame) -> pd.DataFrame:
    """Long table, one row per latent dimension per ok run: gamma2, log10_gamma2, dim,
    log10_var (observed batch-mean σ_k²) and log10_pred (self-consistency prediction; NaN when
    the summary has no ``predicted_variance_k`` column). Non-positive values give NaN."""
    ok = ok_runs(summary)
    frames = []
    for k in latent_dims(summary):
        pred_col = f"predicted_variance_{k}"
        pred = ok[pred_col].to_numpy(float) if pred_col in ok else np.full(len(ok), np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "run_id": ok["run_id"].to_numpy() if "run_id" in ok else np.arange(len(ok)),
                    "gamma2": ok["gamma2"].to_numpy(float),
                    "log10_gamma2": safe_log10(ok["gamma2"].to_numpy(float)),
                    "dim": k,
                    "log10_var": safe_log10(ok[f"latent_variance_{k}"].to_numpy(float)),
                    "log10_pred": safe_log10(pred),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=VARIANCE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[VARIANCE_COLUMNS]


def run_points(summary: pd.DataFrame, column: str, scale: float = 1.0) -> pd.DataFrame:
    """One row per ok run: gamma2, log10_gamma2 and log10(scale × column) as ``log10_value``."""
    ok = ok_runs(summary)
    values = ok[column].to_numpy(float) if column in ok else np.full(len(ok), np.nan)
    return pd.DataFrame(
        {
            "gamma2": ok["gamma2"].to_numpy(float),
            "log10_gamma2": safe_log10(ok["gamma2"].to_numpy(float)),
            "log10_value": safe_log10(scale * values),
        }
    )


def finite_points(points: pd.DataFrame, value: str = "log10_value") -> pd.DataFrame:
    """The rows of ``points`` with a finite log10 γ² and a finite ``value``."""
    keep = np.isfinite(points["log10_gamma2"].astype(float)) & np.isfinite(
        points[value].astype(float)
    )
    return points[keep]
