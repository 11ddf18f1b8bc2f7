"""IMA contrast: how far a Jacobian is from having orthogonal columns.

For a Jacobian ``J`` (``d x n``, ``d >= n``) the local contrast is

    c_IMA(J) = sum_k log ||J[:, k]|| - 1/2 log det(J^T J),

which is >= 0 by Hadamard's inequality and 0 exactly when the columns are orthogonal. It is
invariant to rescaling columns and to left-multiplication by an orthogonal matrix.

Numerics: instead of ``slogdet(J^T J)``, which squares the condition number, we normalise
the columns to unit length and take a QR decomposition of the result ``Q R``. Then
``det(J^T J) = prod_k ||J_k||^2 R_kk^2`` and the contrast is simply ``-sum_k log |R_kk|`` with
``|R_kk| <= 1``. Householder QR is backward stable, so this is accurate for ill-conditioned
Jacobians. A (numerically) rank-deficient ``J`` -- a zero column, or ``|R_kk|`` at or below
``max(d, n) * eps`` -- gives ``+inf``. Everything is computed and returned in float64,
whatever the input dtype, on the input's device. NaN in ``J`` gives NaN.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from identvae.metrics.mcc import split_batches


def _as_jacobian(J: Tensor | np.ndarray, min_ndim: int) -> Tensor:
    """Convert to a float64 tensor and check the trailing ``[d, n]`` shape with ``d >= n``."""
    J = torch.as_tensor(J).to(torch.float64)
    if J.ndim < min_ndim:
        raise ValueError(f"Jacobian needs at least {min_ndim} dims, got shape {tuple(J.shape)}")
    d, n = J.shape[-2:]
    if d < n:
        raise ValueError(f"Jacobian [..., d, n] needs d >= n, got shape {tuple(J.shape)}")
    return J


def local_cima(J: Tensor | np.ndarray) -> Tensor:
    """Local IMA contrast of each ``[d, n]`` Jacobian in ``J[..., d, n]``; returns ``[...]``."""
    J = _as_jacobian(J, 2)
    norms = torch.linalg.vector_norm(J, dim=-2, keepdim=True)
    # Zero columns stay zero (-> R_kk = 0 -> +inf) instead of becoming 0/0 = NaN.
    unit = J / norms.clamp_min(torch.finfo(torch.float64).tiny)
    r_diag = torch.linalg.qr(unit, mode="r").R.diagonal(dim1=-2, dim2=-1).abs()
    tol = max(J.shape[-2:]) * torch.finfo(torch.float64).eps
    r_diag = torch.where(r_diag <= tol, torch.zeros_like(r_diag), r_diag)
    return -torch.log(r_diag).sum(dim=-1)


def global_cima(J: Tensor | np.ndarray) -> Tensor:
    """Monte-Carlo estimate of C_IMA(f, p) = E_z[c_IMA(J_f(z))] from ``J[..., N, d, n]``."""
    return local_cima(_as_jacobian(J, 3)).mean(dim=-1)


def batch_mean_cima(J: Tensor | np.ndarray, batch_size: int = 64) -> Tensor:
    """The plotted "batch c_IMA": c_IMA of each batch's mean Jacobian, averaged over batches.

    ``J[..., N, d, n]`` holds decoder Jacobians at the validation latents. Batches follow
    :func:`identvae.metrics.mcc.split_batches` (same batches as ``batch_mcc``), weighted
    equally. Averaging the Jacobians before taking c_IMA is the project's definition of the
    plotted metric; it differs from :func:`global_cima`, since a mean of column-orthogonal
    Jacobians need not be column-orthogonal. Returns ``[...]``.
    """
    J = _as_jacobian(J, 3)
    return local_cima(batch_means(J, batch_size, dim=-3)).mean(dim=-1)


def batch_means(x: Tensor, batch_size: int, dim: int) -> Tensor:
    """Means over the consecutive batches of axis ``dim`` (batches as in
    :func:`identvae.metrics.mcc.split_batches`); that axis becomes the batch axis."""
    x = x.movedim(dim, 0)
    n_full, tail = split_batches(x.shape[0], batch_size)
    means = []
    if n_full:
        means.append(x[: n_full * batch_size].unflatten(0, (n_full, batch_size)).mean(1))
    if tail:
        means.append(x[x.shape[0] - tail :].mean(0, keepdim=True))
    return torch.cat(means, 0).movedim(0, dim)
