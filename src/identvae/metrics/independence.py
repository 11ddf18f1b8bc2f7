"""HSIC independence test and the NonSENS bivariate orientation rule (docs/papers/ivae.md section
8).

NonSENS orients an edge between two observed variables from the four independence tests
``x_i ⟂ n̂_k`` between the variables and the disturbances recovered by nonlinear ICA. The test is
HSIC (Gretton et al. 2008) with Gaussian kernels on standardised inputs and median-heuristic
bandwidths; its p-value comes from a permutation test, by default stratified over the segments
because the disturbances are independent of the other variables only *given* the segment.

Speed: the workflow runs thousands of tests at n = 1000 with 500 permutations. Each Gram matrix
is replaced by a low-rank factor ``K ≈ G Gᵀ`` from pivoted incomplete Cholesky, stopped once every
diagonal entry of the residual ``K - G Gᵀ`` (a PSD matrix) is below ``CHOLESKY_TOL``. Then
``tr(K H L H) = ||(HG)ᵀ (HF)||_F²`` and each permutation costs one small matrix product instead of
an ``n × n`` one. With unit kernel diagonals the absolute error of the statistic is at most
``2 · CHOLESKY_TOL`` (the residual's trace is ``≤ n · tol`` and the other centred Gram matrix has
spectral norm ``≤ n``), far below the HSIC of any real dependence. The permutation test is exact
for whatever statistic it permutes, so the approximation cannot invalidate the p-values.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist

#: Incomplete Cholesky stops once every residual diagonal entry (a kernel value in [0, 1]) is
#: below this; it bounds the absolute error of the statistic by twice this value.
CHOLESKY_TOL = 1e-10
#: Upper bound on the bytes of one batch of permuted factors (memory stays bounded for any n).
_CHUNK_BYTES = 16 * 2**20
#: Permuted statistics within this relative distance below the observed one count as ">=", so a
#: permutation equivalent to the identity is never lost to floating-point rounding.
_TIE_RTOL = 1e-10

#: Keys of the four p-values in :func:`bivariate_tests`: ``p_x{i}_n{k}`` tests ``x_i ⟂ n̂_k``.
P_KEYS = ("p_x1_n1", "p_x1_n2", "p_x2_n1", "p_x2_n2")
#: Outcomes of the bivariate rule: x1 → x2, x2 → x1, no edge, undecided.
DECISIONS = ("forward", "backward", "no_edge", "undecided")
#: Number of tests the Bonferroni correction divides alpha by.
_N_TESTS = 4


def _as_2d(a: np.ndarray) -> np.ndarray:
    """Return ``a`` as a float64 array ``[T, p]`` (a vector becomes one column)."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        return a[:, None]
    if a.ndim != 2:
        raise ValueError(f"expected an array [T] or [T, p], got shape {a.shape}")
    return a


def standardise(a: np.ndarray) -> np.ndarray:
    """Z-score every column of ``a`` ([T] or [T, p]; returned as [T, p]).

    A constant column is divided by 1 instead of 0, so it becomes all zeros, not NaN."""
    a = _as_2d(a)
    std = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(std > 0, std, 1.0)


def median_bandwidth(a: np.ndarray) -> float:
    """Median heuristic: the median Euclidean distance over all pairs of distinct rows of ``a``.

    Falls back to 1.0 when that median is 0 (e.g. more than half the points coincide), so the
    kernel stays well defined."""
    a = _as_2d(a)
    if a.shape[0] < 2:
        return 1.0
    med = float(np.median(pdist(a)))
    return med if med > 0 else 1.0


def _incomplete_cholesky(a: np.ndarray, bandwidth: float, tol: float) -> np.ndarray:
    """Low-rank factor ``G`` [n, r] with ``G Gᵀ ≈ K``, K the Gaussian Gram matrix of rows ``a``.

    Pivoted incomplete Cholesky: each step takes the row with the largest residual diagonal as
    pivot and adds one column, until that largest residual is ``<= tol``. Only the pivot columns
    of K are ever computed (O(n r²) time, O(n r) memory)."""
    n = a.shape[0]
    scale = -0.5 / bandwidth**2
    residual = np.ones(n)  # diag(K - G Gᵀ); a Gaussian kernel has unit diagonal
    cols: list[np.ndarray] = []
    factor = np.empty((n, 0))
    for _ in range(n):
        pivot = int(np.argmax(residual))
        if residual[pivot] <= tol:
            break
        k_col = np.exp(scale * np.sum((a - a[pivot]) ** 2, axis=1))
        col = (k_col - factor @ factor[pivot]) / np.sqrt(residual[pivot])
        cols.append(col)
        factor = np.column_stack(cols)
        residual = np.maximum(residual - col**2, 0.0)
    return factor


def _centred_factor(a: np.ndarray) -> np.ndarray:
    """Column-centred low-rank Gram factor of the standardised rows of ``a`` (``H G``)."""
    z = standardise(a)
    g = _incomplete_cholesky(z, median_bandwidth(z), CHOLESKY_TOL)
    return g - g.mean(axis=0)


def _permutations(
    groups: np.ndarray | None, n: int, count: int, rng: np.random.Generator
) -> np.ndarray:
    """``count`` random permutations [count, n] of ``range(n)``; each maps every index to one in
    the same group when ``groups`` is given (a stratified permutation), any index otherwise."""
    if groups is None:
        return rng.permuted(np.broadcast_to(np.arange(n), (count, n)), axis=1)
    perms = np.empty((count, n), dtype=np.intp)
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        perms[:, members] = rng.permuted(np.broadcast_to(members, (count, members.size)), axis=1)
    return perms


def _permuted_statistics(gc: np.ndarray, fc: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """``||gcᵀ fc[perm]||_F² / n²`` for every row ``perm`` of ``perms``, in memory-bounded chunks.

    Each chunk gathers the permuted rows as one [n, chunk · r] matrix so the whole chunk is a single
    matrix product (fast BLAS) rather than many tiny ones."""
    n, rank = fc.shape
    out = np.empty(perms.shape[0])
    if rank == 0 or gc.shape[1] == 0:
        out[:] = 0.0
        return out
    chunk = max(1, _CHUNK_BYTES // (8 * n * rank))
    for start in range(0, perms.shape[0], chunk):
        block = perms[start : start + chunk]
        permuted = fc[block.T].reshape(n, block.shape[0] * rank)
        cross = (gc.T @ permuted).reshape(gc.shape[1], block.shape[0], rank)
        out[start : start + block.shape[0]] = np.einsum("ibj,ibj->b", cross, cross) / n**2
    return out


def hsic_test(
    x: np.ndarray,
    y: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    within_groups: bool = True,
    permutations: int = 500,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """HSIC test of ``x ⟂ y``; returns ``(statistic, p_value)``.

    ``x`` [T] or [T, p] and ``y`` [T] or [T, q] are standardised per column and given Gaussian
    kernels with median-heuristic bandwidths. The statistic is the biased V-statistic
    ``tr(K H L H) / T²`` (computed from low-rank factors, see the module docstring). The p-value is
    ``(1 + #{permuted statistic >= observed}) / (1 + permutations)``; the permutations shuffle the
    rows of one side only within each of ``groups`` when ``within_groups`` (a stratified test, for
    a null of independence given the group) and over all rows otherwise (pooled).

    Which side is shuffled does not matter: permuting y's rows by π gives the same statistic as
    permuting x's rows by π⁻¹, and π⁻¹ is as uniform (within groups) as π. The side with the
    lower-rank factor is shuffled because that moves less memory."""
    x2, y2 = _as_2d(x), _as_2d(y)
    n = x2.shape[0]
    if y2.shape[0] != n:
        raise ValueError(f"x and y have different lengths: {n} vs {y2.shape[0]}")
    if n < 2:
        raise ValueError(f"need at least 2 points, got {n}")
    if permutations < 1:
        raise ValueError(f"permutations must be >= 1, got {permutations}")
    strata = None
    if groups is not None and within_groups:
        strata = np.asarray(groups)
        if strata.shape != (n,):
            raise ValueError(f"groups must have shape ({n},), got {strata.shape}")
    gc, fc = _centred_factor(x2), _centred_factor(y2)
    if gc.shape[1] < fc.shape[1]:
        gc, fc = fc, gc
    statistic = float(np.sum((gc.T @ fc) ** 2) / n**2)
    null = _permuted_statistics(gc, fc, _permutations(strata, n, permutations, rng))
    exceed = int(np.count_nonzero(null >= statistic * (1.0 - _TIE_RTOL)))
    return statistic, (1 + exceed) / (1 + permutations)


def subsample(groups: np.ndarray, max_points: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most ``max_points`` rows, stratified over ``groups``.

    All indices when there are no more than ``max_points`` rows. Otherwise each group gets a share
    proportional to its size (largest-remainder rounding, so the total is exactly ``max_points``),
    with at least one point per group whenever there are no more groups than points; the rows of
    each group are drawn without replacement from ``rng``."""
    groups = np.asarray(groups)
    n = groups.shape[0]
    if max_points < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points}")
    if n <= max_points:
        return np.arange(n)
    labels, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    counts = _allocate(sizes, max_points)
    picked = [
        rng.choice(np.flatnonzero(inverse == g), size=counts[g], replace=False)
        for g in range(labels.size)
    ]
    return np.sort(np.concatenate(picked))


def _allocate(sizes: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` (< ``sizes.sum()``) over groups of ``sizes`` in proportion, capped by size.

    Floors of the proportional quotas, raised to 1 where every group can have one point; then the
    points still missing (or in excess, after that raise) go to (or come from) the groups whose
    count is furthest below (above) their quota."""
    quota = sizes * (total / sizes.sum())
    counts = np.minimum(np.floor(quota).astype(np.int64), sizes)
    floor = 1 if sizes.size <= total else 0
    counts = np.maximum(counts, floor)
    while counts.sum() > total:
        excess = np.where(counts > floor, counts - quota, -np.inf)
        counts[int(np.argmax(excess))] -= 1
    while counts.sum() < total:
        deficit = np.where(counts < sizes, quota - counts, -np.inf)
        counts[int(np.argmax(deficit))] += 1
    return counts


def bivariate_decision(p: np.ndarray, alpha: float = 0.05) -> str:
    """The NonSENS rule on ``p`` [2, 2], ``p[i, k]`` the p-value of ``x_i ⟂ n̂_k``; one of
    :data:`DECISIONS`.

    Each test is at level ``alpha / 4`` (Bonferroni), a pair counting as independent when its
    p-value exceeds that. Exactly one independent pair ``(x_a, n̂_k)`` means ``x_a`` is the cause
    (``x_a`` is independent of the effect's disturbance): a = 1 gives "forward" (x1 → x2), a = 2
    "backward". Exactly two independent pairs with different x and different n̂ (each variable is
    independent of the other's disturbance) mean "no_edge". Anything else is "undecided"."""
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (2, 2):
        raise ValueError(f"p must have shape (2, 2), got {p.shape}")
    independent = p > alpha / _N_TESTS
    n_independent = int(independent.sum())
    if n_independent == 1:
        cause = int(np.argwhere(independent)[0, 0])
        return "forward" if cause == 0 else "backward"
    one_per_row_and_column = (independent.sum(axis=0) == 1).all() and (
        independent.sum(axis=1) == 1
    ).all()
    if n_independent == 2 and one_per_row_and_column:
        return "no_edge"
    return "undecided"


def decision_reason(p: np.ndarray, alpha: float = 0.05, permutations: int | None = None) -> str:
    """Why :func:`bivariate_decision` decided as it did on ``p`` [2, 2], in words for the edge
    list: which tests came out independent (p > alpha / 4) and, for "undecided", which of its
    three cases this is. With ``permutations`` given, p-values at the permutation test's floor
    1 / (permutations + 1) are called so (the tests saw no sign of independence at all)."""
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (2, 2):
        raise ValueError(f"p must have shape (2, 2), got {p.shape}")
    independent = p > alpha / _N_TESTS
    pairs = [f"x{i + 1} ⟂ n̂{k + 1}" for i, k in np.argwhere(independent)]
    n_independent = len(pairs)
    if n_independent == 0:
        floor = permutations is not None and bool((p <= 1.0 / (permutations + 1)).all())
        return (
            "every x depends on both n̂"
            + (" (all four p-values at their floor)" if floor else "")
            + ": the fit did not separate a disturbance independent of the cause"
        )
    decision = bivariate_decision(p, alpha)
    if decision in ("forward", "backward"):
        return f"only {pairs[0]}: x{int(np.argwhere(independent)[0, 0]) + 1} is the cause"
    if decision == "no_edge":
        return f"{pairs[0]} and {pairs[1]}: each variable independent of the other's disturbance"
    if n_independent == 2:
        return f"{pairs[0]} and {pairs[1]} share a variable or a disturbance: fits no two-node DAG"
    listed = ", ".join(pairs)
    return f"{n_independent} of 4 tests independent ({listed}): too little dependence to orient"


def bivariate_tests(
    x: np.ndarray,
    n_hat: np.ndarray,
    segments: np.ndarray,
    *,
    alpha: float = 0.05,
    permutations: int = 500,
    max_points: int = 1000,
    within_segments: bool = True,
    rng: np.random.Generator,
) -> dict[str, float | str]:
    """Run the four tests ``x_i ⟂ n̂_k`` on one pair and apply :func:`bivariate_decision`.

    ``x`` and ``n_hat`` are [T, 2], ``segments`` [T]. One stratified subsample of at most
    ``max_points`` rows (see :func:`subsample`) is shared by the four tests, so they see the same
    points. Returns the p-values under :data:`P_KEYS` and the decision under "decision"."""
    x, n_hat = np.asarray(x, dtype=np.float64), np.asarray(n_hat, dtype=np.float64)
    segments = np.asarray(segments)
    if x.ndim != 2 or x.shape[1] != 2 or n_hat.shape != x.shape:
        raise ValueError(f"x and n_hat must both be [T, 2]; got {x.shape} and {n_hat.shape}")
    if segments.shape != (x.shape[0],):
        raise ValueError(f"segments must have shape ({x.shape[0]},), got {segments.shape}")
    idx = subsample(segments, max_points, rng)
    p = np.empty((2, 2))
    for i in range(2):
        for k in range(2):
            _, p[i, k] = hsic_test(
                x[idx, i],
                n_hat[idx, k],
                groups=segments[idx],
                within_groups=within_segments,
                permutations=permutations,
                rng=rng,
            )
    result: dict[str, float | str] = {
        key: float(v) for key, v in zip(P_KEYS, p.ravel(), strict=True)
    }
    result["decision"] = bivariate_decision(p, alpha)
    return result
