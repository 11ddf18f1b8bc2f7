"""Mixing functions f: sources -> observations, written in torch so that their Jacobians come from
torch.func, with their random parameters drawn from an explicit NumPy generator.

A mixing is rebuilt from the parameters stored in the dataset file, so the function used by the
metrics is exactly the one that made the data (the reference code rebuilt a different one)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import ortho_group

Params = dict[str, np.ndarray]


def haar_orthogonal(dim: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random orthogonal matrix."""
    if dim == 1:
        return np.array([[rng.choice([-1.0, 1.0])]])
    return ortho_group.rvs(dim, random_state=rng)


def moebius_params(n: int, rng: np.random.Generator) -> Params:
    """A ~ Haar orthogonal; each pole coordinate a_i ~ N(0, 1), redrawn until |a_i| > 0.5 so the
    pole lies outside the source cube (-0.5, 0.5)^n."""
    A = haar_orthogonal(n, rng)
    a = np.empty(n)
    for i in range(n):
        a[i] = rng.normal()
        while abs(a[i]) <= 0.5:
            a[i] = rng.normal()
    return {"A": A, "a": a}


def moebius(s: torch.Tensor, A: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """f(s) = A (s - a) / ||s - a||^2, applied along the last axis (per sample, never summed over
    a batch as the reference code did)."""
    y = s - a
    return (y / (y * y).sum(-1, keepdim=True)) @ A.T


MIXINGS: dict[str, tuple[Callable[[int, np.random.Generator], Params], Callable]] = {
    "moebius": (moebius_params, moebius),
}


def draw_mixing(name: str, n: int, rng: np.random.Generator) -> Params:
    if name not in MIXINGS:
        raise ValueError(f"unknown mixing {name!r}; known: {sorted(MIXINGS)}")
    return MIXINGS[name][0](n, rng)


def mixing_function(name: str, params: Params) -> Callable[[torch.Tensor], torch.Tensor]:
    """The mixing as a torch function of sources (float64), including the centring offset if the
    params hold one. Works on a single sample [n] or a batch [..., n]."""
    if name not in MIXINGS:
        raise ValueError(f"unknown mixing {name!r}; known: {sorted(MIXINGS)}")
    fn = MIXINGS[name][1]
    tensors = {
        k: torch.as_tensor(v, dtype=torch.float64) for k, v in params.items() if k != "center"
    }
    center = torch.as_tensor(params.get("center", 0.0), dtype=torch.float64)

    def f(s: torch.Tensor) -> torch.Tensor:
        return fn(s, **tensors) - center

    return f


def mixing_jacobian(f: Callable[[torch.Tensor], torch.Tensor], s: torch.Tensor) -> torch.Tensor:
    """Jacobians J_f(s) [N, d, n] at sources s [N, n], vectorised with torch.func."""
    return torch.func.vmap(torch.func.jacfwd(f))(s)
