"""Spearman rank correlation over finite pairs, the one every figure and claim reports."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import spearmanr

#: Fewer pairs than this give no rank correlation (NaN).
MIN_SPEARMAN_RUNS = 3


def rank_correlation(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    """Spearman ρ, its two-sided p-value and the number of finite pairs; NaNs when fewer than
    ``MIN_SPEARMAN_RUNS`` pairs or when either variable is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(keep.sum())
    if n < MIN_SPEARMAN_RUNS or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan, np.nan, n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = spearmanr(x, y)
    return float(result.statistic), float(result.pvalue), n
