"""Log scales that never warn: IMA contrasts and precisions are plotted and judged in log10."""

from __future__ import annotations

import numpy as np


def safe_log10(values: np.ndarray) -> np.ndarray:
    """log10 that maps non-positive and NaN values to NaN instead of warning or -inf."""
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape, np.nan)
    positive = np.isfinite(values) & (values > 0)
    out[positive] = np.log10(values[positive])
    return out
