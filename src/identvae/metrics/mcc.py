"""Mean correlation coefficient (MCC) between true sources and estimated latents.

MCC is the standard identifiability score: build the matrix of absolute correlations
between every source and every latent, find the one-to-one matching that maximises the
summed correlation (Hungarian algorithm), and average the matched entries. It is invariant
to permutation, rescaling (including sign flips) and shifts of the latents; with
``method="spearman"`` it is also invariant to monotone elementwise transforms.

All functions accept optional leading batch dimensions (e.g. a run axis ``R``) so that one
call scores a whole ensemble of runs. Leading dimensions of ``sources`` and ``latents`` are
broadcast against each other.

NaN policy: a NaN anywhere in a column makes that column's correlations NaN, and any NaN in a
correlation matrix makes its MCC NaN. Nothing raises, so one diverged run in an ensemble does
not stop the evaluation of the others; use ``np.nanmean`` downstream if you want to skip it.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

METHODS = ("pearson", "spearman")


def split_batches(n_samples: int, batch_size: int) -> tuple[int, int]:
    """Return ``(n_full, tail)``: the number of full batches and the size of the kept last batch.

    Mirrors an unshuffled validation DataLoader with ``drop_last=False``, except that a final
    batch with fewer than 2 samples is skipped (``tail == 0``) because no correlation or
    meaningful batch statistic can be computed from a single sample. Shared by the MCC and
    c_IMA batch metrics so both use exactly the same batches.
    """
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2, got {batch_size}")
    if n_samples < 2:
        raise ValueError(f"need at least 2 samples, got {n_samples}")
    n_full, tail = divmod(n_samples, batch_size)
    return n_full, (tail if tail >= 2 else 0)


def _as_pair(sources: np.ndarray, latents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes and broadcast leading dims; return float64 arrays ``[..., N, n]``."""
    s = np.asarray(sources, dtype=np.float64)
    z = np.asarray(latents, dtype=np.float64)
    if s.ndim < 2 or z.ndim < 2:
        raise ValueError(
            f"sources and latents must have shape [..., N, n]; got {s.shape} and {z.shape}"
        )
    if s.shape[-2] != z.shape[-2]:
        raise ValueError(
            f"sample counts differ: sources {s.shape} vs latents {z.shape} (axis -2 is samples)"
        )
    if s.shape[-2] < 2:
        raise ValueError(f"need at least 2 samples; got sources {s.shape}, latents {z.shape}")
    try:
        lead = np.broadcast_shapes(s.shape[:-2], z.shape[:-2])
    except ValueError:
        raise ValueError(
            f"leading dims of sources {s.shape} and latents {z.shape} do not broadcast"
        ) from None
    s = np.broadcast_to(s, lead + s.shape[-2:])
    z = np.broadcast_to(z, lead + z.shape[-2:])
    return s, z


def _standardise(x: np.ndarray, method: str) -> np.ndarray:
    """Centre each column and scale it to unit norm; constant columns become all zeros."""
    if method == "spearman":
        # Average ranks for ties; a column containing NaN becomes all NaN (propagates).
        x = rankdata(x, axis=-2)
    elif method != "pearson":
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    xc = x - x.mean(axis=-2, keepdims=True)
    norm = np.sqrt(np.sum(xc * xc, axis=-2, keepdims=True))
    # Detect zero variance exactly (range == 0) rather than via the centred norm, which can
    # be a tiny rounding residue for a constant column and would give a spurious correlation.
    constant = np.ptp(x, axis=-2, keepdims=True) == 0
    return np.divide(xc, norm, out=np.zeros_like(xc), where=~constant)


def abs_correlation(
    sources: np.ndarray, latents: np.ndarray, method: str = "pearson"
) -> np.ndarray:
    """|Pearson| (or |Spearman|) correlation matrix ``[..., n_s, n_z]`` between the columns.

    ``sources`` is ``[..., N, n_s]`` and ``latents`` ``[..., N, n_z]``; computed in float64.
    A zero-variance column gives correlation 0 (not NaN) so an unused/collapsed latent simply
    scores 0.
    """
    s, z = _as_pair(sources, latents)
    c = np.abs(np.einsum("...ni,...nj->...ij", _standardise(s, method), _standardise(z, method)))
    return np.minimum(c, 1.0)  # clip rounding above 1; NaN passes through np.minimum


def matching(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The MCC's one-to-one matching of a 2-D |corr| matrix ``[n_s, n_z]``: (source rows,
    latent columns) that maximise the sum of the matched entries (SciPy's Hungarian solver)."""
    return linear_sum_assignment(c, maximize=True)


def mcc_from_abs_correlation(c: np.ndarray) -> np.ndarray | float:
    """MCC of an ``[..., n_s, n_z]`` |corr| matrix via optimal one-to-one matching.

    For rectangular matrices the mean runs over the ``min(n_s, n_z)`` matched pairs. A matrix
    containing NaN yields NaN. Returns a float for 2-D input, else an array ``c.shape[:-2]``.
    """
    c = np.asarray(c, dtype=np.float64)
    if c.ndim < 2:
        raise ValueError(f"correlation matrix must have shape [..., n_s, n_z]; got {c.shape}")
    flat = c.reshape((-1,) + c.shape[-2:])
    out = np.full(flat.shape[0], np.nan)
    finite = ~np.isnan(flat).any(axis=(1, 2))
    if finite.any():
        # the matching per matrix; the means of the matched entries in one call
        which = np.flatnonzero(finite)
        pairs = np.stack([matching(flat[i]) for i in which])
        out[which] = flat[which[:, None], pairs[:, 0], pairs[:, 1]].mean(axis=-1)
    if c.ndim == 2:
        return float(out[0])
    return out.reshape(c.shape[:-2])


def mcc(sources: np.ndarray, latents: np.ndarray, method: str = "pearson") -> np.ndarray | float:
    """MCC over the full sample set (``[..., N, n]`` inputs; float for unbatched input)."""
    return mcc_from_abs_correlation(abs_correlation(sources, latents, method))


def batch_mcc(
    sources: np.ndarray, latents: np.ndarray, batch_size: int = 64, method: str = "pearson"
) -> np.ndarray | float:
    """Mean of per-batch MCCs over consecutive batches, as logged during validation.

    Batches follow :func:`split_batches` (no shuffling, last partial batch kept unless it has
    fewer than 2 samples). Batches are weighted equally. Small batches inflate MCC relative to
    the full-set value, which is why figures mark a chance level (see :func:`chance_mcc`).
    """
    s, z = _as_pair(sources, latents)
    lead, n = s.shape[:-2], s.shape[-2]
    n_full, tail = split_batches(n, batch_size)
    parts = []
    if n_full:
        cut = n_full * batch_size
        s_b = s[..., :cut, :].reshape(lead + (n_full, batch_size, s.shape[-1]))
        z_b = z[..., :cut, :].reshape(lead + (n_full, batch_size, z.shape[-1]))
        parts.append(abs_correlation(s_b, z_b, method))
    if tail:
        parts.append(
            abs_correlation(s[..., n - tail :, :], z[..., n - tail :, :], method)[..., None, :, :]
        )
    per_batch = mcc_from_abs_correlation(np.concatenate(parts, axis=-3))
    result = np.mean(per_batch, axis=-1)
    return float(result) if result.ndim == 0 else result


def chance_mcc(
    n: int, batch_size: int = 64, n_draws: int = 200, seed: int = 0, method: str = "pearson"
) -> float:
    """Expected batch MCC between independent N(0, I_n) sources and latents.

    This is the score a model with no information about the sources would get at this batch
    size, because the max-matching picks up spurious finite-sample correlations.
    """
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((n_draws, batch_size, n))
    z = rng.standard_normal((n_draws, batch_size, n))
    return float(np.mean(mcc(s, z, method)))
