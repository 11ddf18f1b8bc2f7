"""Least-squares lines on log-log axes (E3's slopes): the figure draws the fit the claim grades."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LogLogFit:
    """Least-squares line ``y = slope * x + intercept`` through ``n`` finite points."""

    slope: float
    intercept: float
    n: int

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.slope))


def fit_loglog(x: np.ndarray, y: np.ndarray) -> LogLogFit:
    """Least-squares slope and intercept of y on x over the finite pairs.

    NaN slope when fewer than two distinct x values remain (a slope is then undefined)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 2 or np.unique(x).size < 2:
        return LogLogFit(np.nan, np.nan, int(x.size))
    xm, ym = x.mean(), y.mean()
    slope = float(((x - xm) * (y - ym)).sum() / ((x - xm) ** 2).sum())
    return LogLogFit(slope, float(ym - slope * xm), int(x.size))
