"""Which runs count: only runs with status "ok" enter a statistic; the others are counted."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The status of a run that finished; every other status (diverged, failed) is unfinished.
OK = "ok"


def ok_runs(summary: pd.DataFrame) -> pd.DataFrame:
    """The finished runs (all rows when the table has no status column)."""
    return summary[summary["status"] == OK] if "status" in summary else summary


def ok_count(rows: pd.DataFrame) -> int:
    """How many of ``rows`` finished."""
    return int((rows["status"] == OK).sum())


def finite(values: pd.Series | np.ndarray) -> np.ndarray:
    """The finite values as floats (NaN and inf dropped)."""
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def finite_median(values: pd.Series | np.ndarray) -> float:
    """Median of the finite values; NaN when there is none."""
    values = finite(values)
    return float(np.median(values)) if values.size else np.nan
