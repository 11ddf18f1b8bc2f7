"""Runs binned on a log-scaled IMA contrast of the true mixing (E2, E6): bins, per-bin table and
the rank correlation of the contrast with batch MCC.

Each run has its own data seed, hence its own mixing and its own C_IMA (a data property, known
even when training failed). Runs are binned on log10 C_IMA into ``n_bins`` bins of equal width
in log10.

Bin edges are deterministic functions of the summary (:func:`bin_edges`):

- they span the range of log10 C_IMA over the runs with status "ok" (and a finite log10 C_IMA);
- if no run finished, they span the runs that have a finite log10 C_IMA whatever their status,
  so the failures are still placed;
- if all those values are equal, the bins span that value ± ``SINGLE_VALUE_HALF_WIDTH`` decades
  (the value then falls in the middle bin);
- if no run has a finite log10 C_IMA, there are no bins.

A run that did not finish but whose C_IMA lies outside the finished runs' range is counted in
the nearest end bin. A run whose log10 C_IMA is not finite (C_IMA missing, e.g. not recorded for
a failed run, or ≤ 0) is in no bin: the table gives such runs one extra row (``bin`` = -1), so
every run is accounted for.

The Spearman rank correlation between the C_IMA and batch MCC is taken over the finished runs
with both values finite (ranks of C_IMA and of its log10 agree).

Equal-width bins in log10 can leave an end bin with very few runs (E2's drawn linear maps are
dense at small c_IMA and sparse at large). :func:`quantile_ends` gives a comparison of the two
ends that each hold enough runs: the lowest and the highest ``1 / n_bins`` of the runs by C_IMA
(quantile bins)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from identvae.analysis.correlation import rank_correlation
from identvae.analysis.runs import OK
from identvae.analysis.scales import safe_log10

#: Default number of bins (the paper's).
N_BINS = 5
#: Half-width in decades of the bins' span when every run has the same C_IMA.
SINGLE_VALUE_HALF_WIDTH = 0.5
#: ``bin`` index of the table row for runs without a finite log10 C_IMA.
UNBINNED = -1
UNBINNED_LABEL = "no finite C_IMA"

TABLE_COLUMNS = [
    "bin",
    "bin_label",
    "log10_cima_lo",
    "log10_cima_hi",
    "runs",
    "failed",
    "mcc_batch_median",
    "mcc_batch_mean",
    "mcc_batch_std",
    "mcc_full_median",
    "cima_axis",
    "spearman_rho",
    "spearman_p",
    "spearman_n",
]


def bin_edges(log_x: np.ndarray, ok: np.ndarray, n_bins: int = N_BINS) -> np.ndarray | None:
    """``n_bins + 1`` equally spaced edges in log10 C_IMA (see the module docstring), or None.

    ``log_x``: log10 C_IMA per run (NaN where unknown); ``ok``: whether each run finished."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    log_x = np.asarray(log_x, dtype=float)
    finite = np.isfinite(log_x)
    basis = log_x[finite & np.asarray(ok, dtype=bool)]
    if basis.size == 0:
        basis = log_x[finite]
    if basis.size == 0:
        return None
    lo, hi = float(basis.min()), float(basis.max())
    if hi == lo:
        lo, hi = lo - SINGLE_VALUE_HALF_WIDTH, hi + SINGLE_VALUE_HALF_WIDTH
    return np.linspace(lo, hi, n_bins + 1)


def assign_bins(log_x: np.ndarray, edges: np.ndarray | None) -> np.ndarray:
    """Bin index per value: bins are [lo, hi) except the last, [lo, hi]; values outside the
    edges go to the nearest end bin; non-finite values (or no edges) get ``UNBINNED``."""
    log_x = np.asarray(log_x, dtype=float)
    out = np.full(log_x.shape, UNBINNED, dtype=int)
    if edges is None:
        return out
    finite = np.isfinite(log_x)
    idx = np.searchsorted(edges, log_x[finite], side="right") - 1
    out[finite] = np.clip(idx, 0, len(edges) - 2)
    return out


def bin_label(edges: np.ndarray, k: int) -> str:
    """ "[lo, hi)" in log10 C_IMA, the last bin closed: "[lo, hi]"."""
    close = "]" if k == len(edges) - 2 else ")"
    return f"[{edges[k]:.2f}, {edges[k + 1]:.2f}{close}"


@dataclass(frozen=True)
class Binning:
    """Runs of one summary binned on log10 of ``column``; arrays are aligned with the rows."""

    column: str
    edges: np.ndarray | None
    log_x: np.ndarray
    bins: np.ndarray
    ok: np.ndarray
    status: np.ndarray
    mcc_batch: np.ndarray
    mcc_full: np.ndarray
    rho: float
    p: float
    n_rho: int

    @property
    def n_bins(self) -> int:
        return 0 if self.edges is None else len(self.edges) - 1

    @property
    def n_unbinned(self) -> int:
        """Runs with no finite log10 C_IMA (in no bin)."""
        return int((self.bins == UNBINNED).sum())

    @property
    def n_outside(self) -> int:
        """Runs (necessarily not finished) counted in an end bin although their log10 C_IMA
        lies outside the edges."""
        if self.edges is None:
            return 0
        finite = np.isfinite(self.log_x)
        x = self.log_x[finite]
        return int(((x < self.edges[0]) | (x > self.edges[-1])).sum())

    @property
    def range(self) -> tuple[float, float]:
        if self.edges is None:
            return np.nan, np.nan
        return float(self.edges[0]), float(self.edges[-1])


def binning(summary: pd.DataFrame, column: str, n_bins: int = N_BINS) -> Binning:
    """Bin the runs of ``summary`` on log10 of its ``column`` (a C_IMA) and correlate it with
    batch MCC over the finished runs. A missing column is a wiring error (KeyError)."""
    if column not in summary.columns:
        raise KeyError(
            f"summary has no column {column!r} (the C_IMA on the x axis); "
            f"columns: {list(summary.columns)}"
        )
    status = summary["status"].astype(str).to_numpy()
    ok = status == OK
    log_x = safe_log10(summary[column].to_numpy(dtype=float))
    edges = bin_edges(log_x, ok, n_bins)
    mcc_batch = summary["mcc_batch"].to_numpy(dtype=float)
    mcc_full = (
        summary["mcc_full"].to_numpy(dtype=float)
        if "mcc_full" in summary.columns
        else np.full(len(summary), np.nan)
    )
    rho, p, n_rho = rank_correlation(log_x[ok], mcc_batch[ok])
    return Binning(
        column=column,
        edges=edges,
        log_x=log_x,
        bins=assign_bins(log_x, edges),
        ok=ok,
        status=status,
        mcc_batch=mcc_batch,
        mcc_full=mcc_full,
        rho=rho,
        p=p,
        n_rho=n_rho,
    )


def _stats(values: np.ndarray) -> dict[str, float]:
    values = pd.Series(values, dtype=float)
    return {"median": values.median(), "mean": values.mean(), "std": values.std()}


def binned_table(summary: pd.DataFrame, column: str, n_bins: int = N_BINS) -> pd.DataFrame:
    """One row per bin (ascending), plus a row with ``bin`` = -1 when some runs have no finite
    log10 C_IMA, so that ``runs`` sums to the number of runs. Failed runs are counted in
    ``failed`` and ``runs``; MCC statistics are over the finished runs of the bin. The Spearman
    correlation of the whole sweep (``spearman_rho``, ``spearman_p``, over ``spearman_n`` finished
    runs) and the C_IMA column used (``cima_axis``) are repeated on every row."""
    b = binning(summary, column, n_bins)
    rows = []
    groups: list[tuple[int, str, float, float]] = [
        (k, bin_label(b.edges, k), float(b.edges[k]), float(b.edges[k + 1]))
        for k in range(b.n_bins)
    ]
    if b.n_unbinned:
        groups.append((UNBINNED, UNBINNED_LABEL, np.nan, np.nan))
    for k, label, lo, hi in groups:
        member = b.bins == k
        ok = member & b.ok
        batch, full = _stats(b.mcc_batch[ok]), _stats(b.mcc_full[ok])
        rows.append(
            {
                "bin": k,
                "bin_label": label,
                "log10_cima_lo": lo,
                "log10_cima_hi": hi,
                "runs": int(member.sum()),
                "failed": int((member & ~b.ok).sum()),
                "mcc_batch_median": batch["median"],
                "mcc_batch_mean": batch["mean"],
                "mcc_batch_std": batch["std"],
                "mcc_full_median": full["median"],
                "cima_axis": column,
                "spearman_rho": b.rho,
                "spearman_p": b.p,
                "spearman_n": b.n_rho,
            }
        )
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.astype({"bin": int, "runs": int, "failed": int, "spearman_n": int})


def end_bins(summary: pd.DataFrame, column: str, n_bins: int = N_BINS) -> pd.DataFrame | None:
    """The lowest and the highest bin with a finished run (two rows of :func:`binned_table`),
    or None when fewer than two bins have one: what E2's drop and E6's trend compare."""
    tab = binned_table(summary, column, n_bins)
    tab = tab[(tab["bin"] != UNBINNED) & np.isfinite(tab["mcc_batch_median"].astype(float))]
    return tab.iloc[[0, -1]] if len(tab) >= 2 else None


@dataclass(frozen=True)
class QuantileEnd:
    """One end of the runs ranked by log10 C_IMA: its runs and finished runs, its log10 C_IMA
    range and the median batch MCC of its finished runs."""

    runs: int
    ok: int
    log10_lo: float
    log10_hi: float
    mcc_batch_median: float

    @property
    def label(self) -> str:
        return f"[{self.log10_lo:.2f}, {self.log10_hi:.2f}]"


def quantile_ends(
    summary: pd.DataFrame, column: str, n_bins: int = N_BINS
) -> tuple[QuantileEnd, QuantileEnd] | None:
    """The lowest and the highest of ``n_bins`` quantile bins of the runs with a finite log10
    ``column`` (whatever their status: a failed run is counted where its C_IMA puts it), each
    holding ``len // n_bins`` or one more runs (ties broken by row order), or None with fewer
    than ``2 * n_bins`` such runs. The median is over each end's finished runs."""
    b = binning(summary, column, n_bins)
    finite = np.flatnonzero(np.isfinite(b.log_x))
    if finite.size < 2 * n_bins:
        return None
    order = finite[np.argsort(b.log_x[finite], kind="stable")]
    parts = np.array_split(order, n_bins)

    def end(rows: np.ndarray) -> QuantileEnd:
        ok = rows[b.ok[rows]]
        return QuantileEnd(
            runs=len(rows),
            ok=len(ok),
            log10_lo=float(b.log_x[rows].min()),
            log10_hi=float(b.log_x[rows].max()),
            mcc_batch_median=float(np.median(b.mcc_batch[ok])) if len(ok) else np.nan,
        )

    return end(parts[0]), end(parts[-1])
