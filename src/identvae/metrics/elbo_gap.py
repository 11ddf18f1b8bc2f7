"""E4, the ELBO gap: how far the best mean-field ELBO of a *fixed* decoder (the true mixing f) lies
below the log-likelihood, against the theory's limit, the IMA contrast.

The encoder is trained by the ensemble trainer with the decoder fixed to f. An amortised MLP cannot
invert f to the accuracy that large γ² asks for: a mean error δ costs γ²/2 ‖J_f δ‖² nats, so an
encoder reconstruction MSE of 3e-4 (what a 30-unit encoder reaches on the triangular MLP) already
costs ~50 nats at γ² = 1e5, and the amortised gap grows linearly in γ² instead of tending to C_IMA.
``ELBO*`` is the optimum over *per-sample* Gaussians (docs/papers/embrace-the-gap.md, E4: "amortised
MLP, or free per-sample Gaussian parameters"), so :func:`refine_mean_field` takes the trained
encoder's q(z|x) as the starting point and optimises each point's (μ, log σ) by damped Newton steps
on the ELBO, its expectation taken by Gauss-Hermite quadrature (deterministic, exact for a linear
decoder). The ELBO of the refined q is then estimated by Monte Carlo with fresh samples, so it is an
unbiased estimate of a valid lower bound: refinement can only move it towards ELBO*. The amortised
encoder's own ELBO is reported alongside (``*_amortised``)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from identvae.data.mixings import mixing_jacobian
from identvae.metrics import likelihood
from identvae.metrics.ima import local_cima

Fn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class GapSettings:
    """Cost bounds of the E4 metrics (computed once per run, at its selected check). The
    configurable ones take their defaults from the config schema (``train.gap_*``)."""

    points: int  # validation points used (the first ones: i.i.d., an unbiased subsample)
    elbo_samples: int  # Monte-Carlo samples per point for each ELBO estimate
    is_samples: int  # importance samples per point for log p_gamma(x)
    newton_steps: int  # at most this many Newton steps of the refinement (0: none)
    quadrature_order: int = 3  # Gauss-Hermite nodes per latent dimension for the refinement


#: The E4 metric names, in the order they appear in a history row.
GAP_METRICS = (
    "gap_points",
    "elbo_star",
    "elbo_star_se",
    "elbo_amortised",
    "log_px",
    "l_ima",
    "cima_mixing",
    "log_px_gamma_is",
    "gap_logp",
    "gap_lima",
    "gap_is",
    "gap_logp_amortised",
    "refine_steps",
)


def gauss_hermite_grid(n: int, order: int, dtype=torch.float64) -> tuple[Tensor, Tensor]:
    """Product Gauss-Hermite rule for E_{ε ~ N(0, I_n)}: nodes [order^n, n], weights summing
    to 1. Exact for polynomials of degree <= 2 order - 1 in each coordinate."""
    x, w = np.polynomial.hermite_e.hermegauss(order)
    w = w / w.sum()
    nodes = np.array(list(itertools.product(x, repeat=n)))
    weights = np.array([np.prod(c) for c in itertools.product(w, repeat=n)])
    return torch.as_tensor(nodes, dtype=dtype), torch.as_tensor(weights, dtype=dtype)


def _solve(matrices: Tensor, vectors: Tensor) -> Tensor:
    """Batched ``matrices^-1 vectors``; NaN (a step that is then rejected) where singular."""
    sol, info = torch.linalg.solve_ex(matrices, vectors.unsqueeze(-1))
    return torch.where((info == 0)[:, None], sol.squeeze(-1), torch.nan)


def gauss_newton_mode(
    x: Tensor,
    decoder: Fn,
    log_prior: Fn,
    gamma2: float,
    z: Tensor,
    prior_curvature: float = 1.0,
    max_steps: int = 20,
    tol: float = 1e-9,
) -> Tensor:
    """The posterior mode argmax_z [-γ²/2 ‖x - f(z)‖² + log p0(z)] per point, by Gauss-Newton
    steps (matrix c I + γ² J^T J, always positive definite) from z [N, n], halving a step where
    it would lower the objective. Cheap: one Jacobian per point and step."""

    def objective(zz: Tensor) -> Tensor:
        return -0.5 * gamma2 * ((x - decoder(zz)) ** 2).sum(-1) + log_prior(zz)

    eye = torch.eye(z.shape[-1], dtype=z.dtype, device=z.device)
    current = objective(z)
    for _ in range(max_steps):
        jac = mixing_jacobian(decoder, z)
        with torch.enable_grad():
            zg = z.detach().requires_grad_()
            prior_grad = torch.autograd.grad(log_prior(zg).sum(), zg)[0]
        grad = gamma2 * (jac.transpose(-1, -2) @ (x - decoder(z)).unsqueeze(-1)).squeeze(-1)
        grad = grad + prior_grad
        gn = prior_curvature * eye + gamma2 * jac.transpose(-1, -2) @ jac
        step = _solve(gn, grad)
        accepted = torch.zeros_like(current, dtype=torch.bool)
        gain = torch.zeros_like(current)
        for _ in range(20):
            trial = z + step
            new = objective(trial)
            ok = ~accepted & torch.isfinite(new) & (new >= current)
            z = torch.where(ok[:, None], trial, z)
            gain = torch.where(ok, new - current, gain)
            current = torch.where(ok, new, current)
            accepted |= ok
            if bool(accepted.all()):
                break
            step = step / 2
        if not bool((gain > tol).any()):
            break
    return z


def refine_mean_field(
    x: Tensor,
    decoder: Fn,
    log_prior: Fn,
    gamma2: float,
    mu: Tensor,
    logvar: Tensor,
    prior_curvature: float = 1.0,
    order: int = 3,
    max_steps: int = 30,
    tol: float = 1e-6,
) -> tuple[Tensor, Tensor, int]:
    """Per-point optimum of the mean-field ELBO ``E_q[log p(x|z) + log p0(z)] + H(q)`` over
    q = N(mu, diag exp(logvar)), started from the better, per point, of the given (mu, logvar)
    [N, n] (e.g. the encoder's) and the mean-field Laplace fit at the posterior mode found from
    mu by :func:`gauss_newton_mode` (variances 1 / (c + γ² ‖J_k‖²)).

    The expectation is a Gauss-Hermite product rule (``order`` nodes per dimension), so each
    point's objective is a deterministic smooth function of its 2n parameters (mu, log sigma);
    it is maximised by Levenberg-Marquardt-damped Newton steps (exact per-point Hessians from
    torch.func), a step kept only where it does not lower the objective. Returns the refined
    (mu, logvar) and the number of Newton steps taken."""
    n = mu.shape[-1]
    nodes, weights = gauss_hermite_grid(n, order, mu.dtype)
    nodes, weights = nodes.to(mu.device), weights.to(mu.device)

    def objective(theta: Tensor, xi: Tensor) -> Tensor:
        m, rho = theta[:n], theta[n:]
        z = m + torch.exp(rho) * nodes
        rec = ((xi - decoder(z)) ** 2).sum(-1)
        return (weights * (-0.5 * gamma2 * rec + log_prior(z))).sum() + rho.sum()

    def grad_twice(theta: Tensor, xi: Tensor) -> tuple[Tensor, Tensor]:
        g = torch.func.grad(objective)(theta, xi)
        return g, g

    value = torch.func.vmap(objective)
    hess_grad = torch.func.vmap(torch.func.jacfwd(grad_twice, has_aux=True))

    theta = torch.cat([mu, 0.5 * logvar.expand_as(mu)], -1)
    current = value(theta, x)
    mode = gauss_newton_mode(x, decoder, log_prior, gamma2, mu, prior_curvature)
    col2 = (mixing_jacobian(decoder, mode) ** 2).sum(-2)
    laplace = torch.cat([mode, -0.5 * torch.log(prior_curvature + gamma2 * col2)], -1)
    at_laplace = value(laplace, x)
    better = torch.isfinite(at_laplace) & ~(at_laplace < current)
    theta = torch.where(better[:, None], laplace, theta)
    current = torch.where(better, at_laplace, current)
    lam = torch.full_like(current, 1e-3)
    eye = torch.eye(2 * n, dtype=mu.dtype, device=mu.device)
    steps = 0
    while steps < max_steps:
        steps += 1
        hess, grad = hess_grad(theta, x)
        neg = -hess
        scale = neg.diagonal(dim1=-2, dim2=-1).abs().clamp_min(1e-12)
        pending = torch.ones_like(current, dtype=torch.bool)
        gain = torch.zeros_like(current)
        for _ in range(12):  # raise the damping of the points whose step was rejected
            damped = neg + lam[:, None, None] * (scale[:, :, None] * eye)
            trial = theta + _solve(damped, grad)
            new = value(trial, x)
            ok = pending & torch.isfinite(new) & (new >= current)
            theta = torch.where(ok[:, None], trial, theta)
            gain = torch.where(ok, new - current, gain)
            current = torch.where(ok, new, current)
            lam = torch.where(ok, (lam / 3).clamp_min(1e-9), torch.where(pending, lam * 10, lam))
            pending &= ~ok
            if not bool(pending.any()):
                break
        if not bool((gain > tol).any()):
            break
    return theta[:, :n], 2 * theta[:, n:], steps


@torch.no_grad()
def elbo_gap(
    s: Tensor,
    decoder: Fn,
    log_prior: Fn,
    prior_curvature: float,
    encoder: Callable[[Tensor], tuple[Tensor, Tensor]],
    gamma2: float,
    generator: torch.Generator,
    settings: GapSettings,
) -> dict[str, float]:
    """The E4 metrics of one run at sources s [N, n] (float64), true mixing ``decoder``,
    ``encoder`` x -> (mu, logvar):

    - ``log_px``: mean noiseless change-of-variables log density log p0(s) − log|det J_f(s)|;
      ``l_ima``: mean L_IMA = log p − c_IMA(J_f(s)); ``cima_mixing``: mean c_IMA(J_f(s)), the
      mixing's global C_IMA on these points;
    - ``elbo_star``: mean ELBO of the refined per-point q (:func:`refine_mean_field`) by Monte
      Carlo (analytic entropy), ``elbo_star_se`` its standard error; ``elbo_amortised`` the same
      for the encoder's own q;
    - ``log_px_gamma_is``: mean importance-sampled finite-γ log p_γ(x), proposal the
      full-covariance Laplace Gaussian N(mu*, (c I + γ² J_f(mu*)^T J_f(mu*))^-1) at the refined
      mean (a mean-field proposal is biased low by about the gap itself);
    - ``gap_logp`` = mean(log p − ELBO*), ``gap_lima`` = mean(L_IMA − ELBO*), ``gap_is`` =
      mean(log p_γ − ELBO*), ``gap_logp_amortised`` = mean(log p − ELBO_amortised).
    """
    m = len(s)
    x = decoder(s)
    mu_enc, logvar_enc = encoder(x)
    mu, logvar, steps = _refine(
        x, decoder, log_prior, gamma2, mu_enc, logvar_enc, prior_curvature, settings
    )

    jac = mixing_jacobian(decoder, s)
    lp0 = log_prior(s)
    log_px = likelihood.log_px_change_of_variables(lp0, jac)
    cima = local_cima(jac).to(log_px.dtype)
    k = settings.elbo_samples
    elbo, elbo_se = likelihood.elbo_estimate(
        x, decoder, log_prior, gamma2, mu, logvar, n_samples=k, generator=generator
    )
    elbo_amortised, _ = likelihood.elbo_estimate(
        x, decoder, log_prior, gamma2, mu_enc, logvar_enc, n_samples=k, generator=generator
    )
    scale_tril = likelihood.laplace_scale_tril(
        mixing_jacobian(decoder, mu), gamma2, prior_curvature
    )
    log_px_is = likelihood.importance_log_px(
        x,
        decoder,
        log_prior,
        gamma2,
        mu,
        scale_tril=scale_tril,
        n_samples=settings.is_samples,
        generator=generator,
    )
    values = {
        "gap_points": m,
        "elbo_star": elbo.mean(),
        "elbo_star_se": (elbo_se**2).sum().sqrt() / m,
        "elbo_amortised": elbo_amortised.mean(),
        "log_px": log_px.mean(),
        "l_ima": (log_px - cima).mean(),
        "cima_mixing": cima.mean(),
        "log_px_gamma_is": log_px_is.mean(),
        "gap_logp": (log_px - elbo).mean(),
        "gap_lima": (log_px - cima - elbo).mean(),
        "gap_is": (log_px_is - elbo).mean(),
        "gap_logp_amortised": (log_px - elbo_amortised).mean(),
        "refine_steps": steps,
    }
    return {name: float(values[name]) for name in GAP_METRICS}


def _refine(x, decoder, log_prior, gamma2, mu, logvar, prior_curvature, settings: GapSettings):
    if settings.newton_steps <= 0:
        return mu, logvar.expand_as(mu), 0
    with torch.enable_grad():  # torch.func transforms need autograd available
        return refine_mean_field(
            x,
            decoder,
            log_prior,
            gamma2,
            mu,
            logvar,
            prior_curvature,
            order=settings.quadrature_order,
            max_steps=settings.newton_steps,
        )
