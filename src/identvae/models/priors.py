"""Factorised latent priors p0(z). Bounded ones (uniform, beta) live on (0, 1) and are used with
the sigmoid trick: the encoder's Gaussian sample is pushed through a sigmoid.

An ensemble may mix priors (the prior ablation trains every prior of one dimension together):
its runs' priors are then a tuple of names and a per-run code tensor [R] indexing it, and the
per-run functions below select each run's row from the density (or support) of its own prior,
so a run's numbers are those of the same run trained with its prior alone."""

from __future__ import annotations

import math

import numpy as np
import torch

BOUNDED = {"uniform", "beta"}
PRIORS = ("uniform", "beta", "gaussian", "laplace")


def is_bounded(prior: str) -> bool:
    return prior in BOUNDED


def bounded_per_run(names: tuple[str, ...], codes: torch.Tensor) -> torch.Tensor:
    """[R, 1] booleans: whether run r's prior ``names[codes[r]]`` is bounded (sigmoid trick)."""
    table = torch.tensor([is_bounded(name) for name in names], device=codes.device)
    return table[codes.long()][:, None]


def to_support_per_run(
    names: tuple[str, ...], codes: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Each run's Gaussian variable y [R, B, n] in its prior's support (sigmoid where
    bounded)."""
    if all(map(is_bounded, names)):
        return torch.sigmoid(y)
    if not any(map(is_bounded, names)):
        return y
    return torch.where(bounded_per_run(names, codes)[..., None], torch.sigmoid(y), y)


def log_prior_per_run(
    names: tuple[str, ...], codes: torch.Tensor, z: torch.Tensor, params: dict, config: dict
) -> torch.Tensor:
    """Each run's log density under its own prior; z [R, B, n] -> [R, B]."""
    out = log_prior(names[0], z, params, config)
    for code, name in enumerate(names[1:], start=1):
        mine = (codes.long() == code)[:, None]
        out = torch.where(mine, log_prior(name, z, params, config), out)
    return out


def beta_parameters(params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Learned Beta parameters alpha = |a| + 2, beta = |b| + 2 (kept > 1 so the density is
    unimodal and bounded), each [R, 1, n]."""
    return params["prior.a"].abs() + 2, params["prior.b"].abs() + 2


def init_prior(prior: str, n: int, runs: int, config: dict) -> dict[str, torch.Tensor]:
    """Learnable prior parameters, if any (only the learned Beta has them)."""
    if prior == "beta" and config.get("beta_learned", False):
        # a, b start where the fixed prior sits: alpha = 3, beta = 11
        a = torch.full((runs, 1, n), float(config.get("beta_alpha", 3.0)) - 2)
        b = torch.full((runs, 1, n), float(config.get("beta_beta", 11.0)) - 2)
        return {"prior.a": a, "prior.b": b}
    return {}


def log_prior(prior: str, z: torch.Tensor, params: dict, config: dict) -> torch.Tensor:
    """Summed log density over the last axis; z [R, B, n] -> [R, B]."""
    if prior == "uniform":
        return torch.zeros(z.shape[:-1], dtype=z.dtype, device=z.device)
    if prior == "gaussian":
        return (-0.5 * z * z - 0.5 * math.log(2 * math.pi)).sum(-1)
    if prior == "laplace":
        return (-z.abs() - math.log(2.0)).sum(-1)
    if prior == "beta":
        if "prior.a" in params:
            alpha, beta = beta_parameters(params)
        else:
            alpha = torch.tensor(float(config.get("beta_alpha", 3.0)), dtype=z.dtype)
            beta = torch.tensor(float(config.get("beta_beta", 11.0)), dtype=z.dtype)
        log_norm = torch.lgamma(alpha) + torch.lgamma(beta) - torch.lgamma(alpha + beta)
        zc = z.clamp(1e-7, 1 - 1e-7)
        return ((alpha - 1) * torch.log(zc) + (beta - 1) * torch.log1p(-zc) - log_norm).sum(-1)
    raise ValueError(f"unknown prior {prior!r}; known: {PRIORS}")


def log_prior_curvature(prior: str) -> float:
    """-(log p0)'' where it is constant: 1 for the Gaussian, 0 otherwise (the self-consistency
    prediction of the posterior variance uses it)."""
    return 1.0 if prior == "gaussian" else 0.0


def sample_prior(
    prior: str, shape: tuple[int, ...], generator: torch.Generator, config: dict
) -> torch.Tensor:
    """Samples of the prior (a learned Beta at its initial parameters), on the CPU, float64."""
    if prior == "uniform":
        return torch.rand(shape, generator=generator, dtype=torch.float64)
    if prior == "gaussian":
        return torch.randn(shape, generator=generator, dtype=torch.float64)
    if prior == "laplace":
        u = torch.rand(shape, generator=generator, dtype=torch.float64) - 0.5
        return -u.sign() * torch.log1p(-2 * u.abs())
    if prior == "beta":
        seed = int(torch.randint(2**62, (1,), generator=generator))
        rng = np.random.default_rng(seed)
        alpha, beta = float(config.get("beta_alpha", 3.0)), float(config.get("beta_beta", 11.0))
        return torch.as_tensor(rng.beta(alpha, beta, size=shape))
    raise ValueError(f"unknown prior {prior!r}; known: {PRIORS}")
