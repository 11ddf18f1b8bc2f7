"""Likelihoods and ELBOs for a *fixed* decoder (E4, the ELBO gap).

With decoder ``p(x|z) = N(f(z), gamma^-2 I)``, factorised prior ``p0`` and a diagonal Gaussian
``q(z|x)``, the gap ``log p(x) - ELBO(q)`` is ``KL(q || p(z|x))``. The theory says that at the
optimal mean-field ``q`` and as ``gamma -> inf`` it tends to ``c_IMA(J_f(g(x)))``; this module
supplies every side of that comparison:

- the noiseless change-of-variables density ``log p_f(x)`` and ``L_IMA = log p_f - c_IMA``;
- Monte-Carlo ELBO and importance-sampled ``log p_gamma(x)`` for any decoder and log-prior;
- closed forms for the linear-Gaussian model ``f(z) = A z``, ``p0 = N(0, I)``, which the
  estimators are tested against.

Everything works in the dtype of its inputs; pass float64 (the gap is a small difference of
large numbers at large gamma)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from identvae.metrics.ima import local_cima

Decoder = Callable[[Tensor], Tensor]  # z [..., n] -> x [..., d]
LogPrior = Callable[[Tensor], Tensor]  # z [..., n] -> [...], summed over the last axis

LOG_2PI = math.log(2 * math.pi)


# --- noiseless density -------------------------------------------------------------------------


def log_px_change_of_variables(log_prior_s: Tensor, jacobians: Tensor) -> Tensor:
    """``log p_f(x) = log p0(s) - log|det J_f(s)|`` at ``x = f(s)``; ``log_prior_s`` [N],
    ``jacobians`` [N, d, n] with d == n (the density of an invertible map)."""
    d, n = jacobians.shape[-2:]
    if d != n:
        raise ValueError(f"change of variables needs a square Jacobian, got [{d}, {n}]")
    return log_prior_s - torch.linalg.slogdet(jacobians).logabsdet


def l_ima(log_prior_s: Tensor, jacobians: Tensor) -> Tensor:
    """The IMA-regularised likelihood ``L_IMA = log p_f(x) - c_IMA(J_f(s))`` that the optimal
    ELBO tends to as gamma -> inf; equals ``log p0(s) - sum_k log ||J_f(s)_{:,k}||``."""
    log_px = log_px_change_of_variables(log_prior_s, jacobians)
    return log_px - local_cima(jacobians).to(log_px.dtype)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I), summed over the last axis."""
    return -0.5 * (z * z).sum(-1) - 0.5 * z.shape[-1] * LOG_2PI


# --- Monte-Carlo estimators --------------------------------------------------------------------


def gaussian_log_likelihood(x: Tensor, x_hat: Tensor, gamma2: float) -> Tensor:
    """``log N(x; x_hat, gamma^-2 I)`` summed over the last axis, *with* the normaliser
    ``-(d/2) log(2 pi / gamma^2)``, which the ELBO-vs-log p comparison needs."""
    d = x.shape[-1]
    sq = ((x - x_hat) ** 2).sum(-1)
    return -0.5 * gamma2 * sq - 0.5 * d * (LOG_2PI - math.log(gamma2))


def _sample_gaussian(
    mu: Tensor,
    logvar: Tensor | None,
    scale_tril: Tensor | None,
    n_samples: int,
    generator: torch.Generator | None,
) -> tuple[Tensor, Tensor]:
    """``n_samples`` draws z [K, N, n] of a Gaussian proposal and their log q [K, N]; the
    proposal is diagonal (``logvar`` [N, n] or [n]) or full (``scale_tril`` [N, n, n] or
    [n, n], the Cholesky factor of its covariance)."""
    if (logvar is None) == (scale_tril is None):
        raise ValueError("give exactly one of logvar (diagonal) and scale_tril (full covariance)")
    n = mu.shape[-1]
    eps = torch.randn((n_samples, *mu.shape), generator=generator, dtype=mu.dtype, device=mu.device)
    base = -0.5 * (eps * eps).sum(-1) - 0.5 * n * LOG_2PI
    if logvar is not None:
        logvar = logvar.expand_as(mu)
        z = mu + torch.exp(0.5 * logvar) * eps
        return z, base - 0.5 * logvar.sum(-1)
    scale_tril = scale_tril.expand(*mu.shape, n)
    z = mu + (scale_tril @ eps.unsqueeze(-1)).squeeze(-1)
    log_det = torch.log(scale_tril.diagonal(dim1=-2, dim2=-1).abs()).sum(-1)
    return z, base - log_det


def log_weights(
    x: Tensor,
    decoder: Decoder,
    log_prior: LogPrior,
    gamma2: float,
    mu: Tensor,
    logvar: Tensor | None = None,
    scale_tril: Tensor | None = None,
    n_samples: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``log p(x|z_k) + log p0(z_k) - log q(z_k|x)`` for z_k ~ q, [K, N]: the summands of both
    the ELBO (their mean) and the importance-sampled log-likelihood (their log-mean-exp)."""
    z, log_q = _sample_gaussian(mu, logvar, scale_tril, n_samples, generator)
    return gaussian_log_likelihood(x, decoder(z), gamma2) + log_prior(z) - log_q


def elbo_estimate(
    x: Tensor,
    decoder: Decoder,
    log_prior: LogPrior,
    gamma2: float,
    mu: Tensor,
    logvar: Tensor,
    n_samples: int = 64,
    generator: torch.Generator | None = None,
    analytic_entropy: bool = True,
    chunk: int = 256,
) -> tuple[Tensor, Tensor]:
    """Per-sample ELBO of the diagonal Gaussian ``q = N(mu, diag exp(logvar))`` [N] and its
    Monte-Carlo standard error [N], from ``n_samples`` reparameterised samples (drawn ``chunk``
    at a time to bound memory). With ``analytic_entropy`` the ``-E_q log q`` term is the exact
    Gaussian entropy ``1/2 sum_k log(2 pi e sigma_k^2)`` rather than a sample average, which
    removes its share of the Monte-Carlo noise; the expectation is the same."""
    logvar = logvar.expand_as(mu)
    total = torch.zeros(mu.shape[:-1], dtype=mu.dtype, device=mu.device)
    total_sq = torch.zeros_like(total)
    entropy = 0.5 * (logvar + 1 + LOG_2PI).sum(-1)
    done = 0
    while done < n_samples:
        k = min(chunk, n_samples - done)
        z, log_q = _sample_gaussian(mu, logvar, None, k, generator)
        term = gaussian_log_likelihood(x, decoder(z), gamma2) + log_prior(z)
        term = term + entropy if analytic_entropy else term - log_q
        total = total + term.sum(0)
        total_sq = total_sq + (term * term).sum(0)
        done += k
    mean = total / n_samples
    var = (total_sq / n_samples - mean * mean).clamp_min(0) * n_samples / max(n_samples - 1, 1)
    return mean, (var / n_samples).sqrt()


def logmeanexp(a: Tensor, dim: int = 0) -> Tensor:
    return torch.logsumexp(a, dim) - math.log(a.shape[dim])


def importance_log_px(
    x: Tensor,
    decoder: Decoder,
    log_prior: LogPrior,
    gamma2: float,
    mu: Tensor,
    logvar: Tensor | None = None,
    scale_tril: Tensor | None = None,
    n_samples: int = 1000,
    generator: torch.Generator | None = None,
    chunk: int = 256,
) -> Tensor:
    """Importance-sampled ``log p_gamma(x) ~ logmeanexp_k [log p(x|z_k) + log p0(z_k) -
    log q(z_k|x)]``, z_k ~ q, [N]. Consistent as K grows, biased low at finite K (Jensen); the
    closer q is to the posterior the smaller the bias (zero variance at the exact posterior).
    Samples are processed ``chunk`` at a time with a running log-sum-exp."""
    acc = None
    done = 0
    while done < n_samples:
        k = min(chunk, n_samples - done)
        w = log_weights(x, decoder, log_prior, gamma2, mu, logvar, scale_tril, k, generator)
        lse = torch.logsumexp(w, 0)
        acc = lse if acc is None else torch.logaddexp(acc, lse)
        done += k
    return acc - math.log(n_samples)


# --- linear-Gaussian closed forms --------------------------------------------------------------


def linear_gaussian_log_marginal(x: Tensor, A: Tensor, gamma2: float) -> Tensor:
    """Exact ``log p(x) = log N(x; 0, A A^T + gamma^-2 I)`` for f(z) = A z, p0 = N(0, I); x [N, d],
    A [d, n]."""
    d = A.shape[0]
    cov = A @ A.T + torch.eye(d, dtype=A.dtype, device=A.device) / gamma2
    chol = torch.linalg.cholesky(cov)
    white = torch.linalg.solve_triangular(chol, x.T, upper=False).T
    log_det = 2 * torch.log(chol.diagonal()).sum()
    return -0.5 * (white * white).sum(-1) - 0.5 * log_det - 0.5 * d * LOG_2PI


def linear_gaussian_precision(A: Tensor, gamma2: float) -> Tensor:
    """Posterior precision P = I + gamma^2 A^T A (the same for every x)."""
    n = A.shape[1]
    return torch.eye(n, dtype=A.dtype, device=A.device) + gamma2 * A.T @ A


def linear_gaussian_posterior(x: Tensor, A: Tensor, gamma2: float) -> tuple[Tensor, Tensor]:
    """Exact posterior N(m, P^-1): mean m = gamma^2 P^-1 A^T x [N, n] and the Cholesky factor of
    the covariance P^-1 [n, n]."""
    P = linear_gaussian_precision(A, gamma2)
    mean = gamma2 * torch.linalg.solve(P, A.T @ x.T).T
    return mean, torch.linalg.cholesky(torch.linalg.inv(P))


def linear_gaussian_mean_field(x: Tensor, A: Tensor, gamma2: float) -> tuple[Tensor, Tensor]:
    """Optimal diagonal Gaussian q: since log p - ELBO(q) = KL(q || N(m, P^-1)), minimising over
    q = N(mu, diag v) gives mu = m (the exact posterior mean) and v_k = 1 / P_kk. Returns
    (mu [N, n], logvar [n])."""
    mean, _ = linear_gaussian_posterior(x, A, gamma2)
    P = linear_gaussian_precision(A, gamma2)
    return mean, -torch.log(P.diagonal())


def linear_gaussian_elbo(x: Tensor, A: Tensor, gamma2: float, mu: Tensor, logvar: Tensor) -> Tensor:
    """Exact ELBO of q = N(mu, diag exp(logvar)) for the linear-Gaussian model, [N]:
    E_q log p(x|z) = -gamma^2/2 (||x - A mu||^2 + sum_k v_k ||A_k||^2) - d/2 log(2 pi / gamma^2),
    E_q log p0(z) = -1/2 (||mu||^2 + sum_k v_k) - n/2 log 2 pi,
    entropy = 1/2 sum_k log(2 pi e v_k)."""
    d, n = A.shape
    v = torch.exp(logvar).expand_as(mu)
    col_sq = (A * A).sum(0)
    rec = ((x - mu @ A.T) ** 2).sum(-1) + (v * col_sq).sum(-1)
    log_lik = -0.5 * gamma2 * rec - 0.5 * d * (LOG_2PI - math.log(gamma2))
    log_prior = -0.5 * ((mu * mu).sum(-1) + v.sum(-1)) - 0.5 * n * LOG_2PI
    entropy = 0.5 * (torch.log(v) + 1 + LOG_2PI).sum(-1)
    return log_lik + log_prior + entropy


def linear_gaussian_mean_field_gap(A: Tensor, gamma2: float) -> Tensor:
    """log p(x) - ELBO*_mf = 1/2 (sum_k log P_kk - log det P), the same for every x. It is 0 iff
    P is diagonal, i.e. A has orthogonal columns, and tends to c_IMA(A) as gamma -> inf since
    P ~ gamma^2 A^T A."""
    P = linear_gaussian_precision(A, gamma2)
    return 0.5 * (torch.log(P.diagonal()).sum() - torch.linalg.slogdet(P).logabsdet)


def laplace_scale_tril(jacobians: Tensor, gamma2: float, prior_curvature: float = 1.0) -> Tensor:
    """Cholesky factor [N, n, n] of the Laplace posterior covariance
    ``(prior_curvature I + gamma^2 J^T J)^-1`` from decoder Jacobians J [N, d, n] at the
    posterior mode: a full-covariance importance proposal. A mean-field proposal has the
    variances 1 / P_kk, narrower than the posterior marginals (P^-1)_kk when J's columns are not
    orthogonal, so importance weights get heavy tails and the log p estimate is biased low by
    roughly the mean-field gap; this proposal removes most of that at large gamma."""
    n = jacobians.shape[-1]
    eye = torch.eye(n, dtype=jacobians.dtype, device=jacobians.device)
    P = prior_curvature * eye + gamma2 * jacobians.transpose(-1, -2) @ jacobians
    # chol(P^-1) via P = U U^T, U = flip(chol(flip(P))) upper; then P^-1 = U^-T U^-1.
    flip = torch.linalg.cholesky(P.flip(-1, -2)).flip(-1, -2)
    inv_upper = torch.linalg.solve_triangular(flip, eye.expand_as(P), upper=True)
    return inv_upper.transpose(-1, -2)
