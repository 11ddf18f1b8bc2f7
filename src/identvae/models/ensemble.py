"""Ensembles of MLPs with parameters stacked along a leading run axis.

Parameters live in a flat dict ``name -> Tensor[R, ...]``, so that selecting runs is indexing
(``p[idx]``), one run's weights are ``p[r]``, and the forward is a pure function that torch.func
can differentiate per sample and per run. Every run draws its initial weights from its own
generator, so a run starts from the same weights whether it is trained alone or in an ensemble."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Params = dict[str, torch.Tensor]


def mlp_sizes(n_in: int, n_out: int, n_layers: int, hidden: int) -> list[int]:
    """Layer widths of an MLP with ``n_layers`` linear layers (``n_layers - 1`` hidden ones)."""
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    return [n_in] + [hidden] * (n_layers - 1) + [n_out]


INITS = ("xavier", "torch_default")
ACTIVATIONS = ("lrelu", "xtanh", "none")


def _uniform(shape: tuple[int, ...], bound: float, generators: list[torch.Generator]):
    return torch.stack(
        [(torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1) * bound for g in generators]
    )


def init_mlp(
    prefix: str,
    sizes: list[int],
    generators: list[torch.Generator],
    dtype=torch.float32,
    init: str = "xavier",
) -> Params:
    """Each run's weights from its own generator. ``xavier``: Xavier-uniform weights, zero
    biases (Embrace the Gap). ``torch_default``: what ``nn.Linear`` draws, weights and biases
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), weights then bias per layer (the iVAE's code)."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; known: {INITS}")
    params: Params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if init == "xavier":
            w = _uniform((fan_in, fan_out), math.sqrt(6.0 / (fan_in + fan_out)), generators)
            b = torch.zeros(len(generators), 1, fan_out, dtype=torch.float64)
        else:
            bound = 1.0 / math.sqrt(fan_in)
            draws = [
                (
                    _uniform((fan_in, fan_out), bound, [g])[0],
                    _uniform((1, fan_out), bound, [g])[0],
                )
                for g in generators
            ]
            w = torch.stack([wb[0] for wb in draws])
            b = torch.stack([wb[1] for wb in draws])
        params[f"{prefix}.{i}.weight"] = w.to(dtype)
        params[f"{prefix}.{i}.bias"] = b.to(dtype)
    return params


def activate(x: torch.Tensor, activation: str, slope: float = 0.2) -> torch.Tensor:
    """``lrelu``: leaky ReLU; ``xtanh``: tanh(x) + slope * x (the iVAE's, slope 0.1);
    ``none``: the identity (linear networks)."""
    if activation == "lrelu":
        return F.leaky_relu(x, slope)
    if activation == "xtanh":
        return torch.add(torch.tanh(x), x, alpha=slope)  # one pass fewer than tanh + slope * x
    if activation == "none":
        return x
    raise ValueError(f"unknown activation {activation!r}; known: {ACTIVATIONS}")


def mlp_forward(
    params: Params,
    prefix: str,
    n_layers: int,
    x: torch.Tensor,
    slope: float = 0.2,
    activation: str = "lrelu",
) -> torch.Tensor:
    """x [R, B, in] -> [R, B, out]; ``activation`` (see :func:`activate`) between layers, linear
    output.

    Also works for a single run and sample (weights [in, out], bias [1, out], x [in]), which is
    what torch.func.jacfwd differentiates."""
    for i in range(n_layers):
        w, b = params[f"{prefix}.{i}.weight"], params[f"{prefix}.{i}.bias"]
        x = torch.baddbmm(b, x, w) if x.dim() == 3 else (x @ w + b).squeeze(-2)
        if i < n_layers - 1:
            x = activate(x, activation, slope)
    return x


def run_state_dict(params: Params, r: int) -> dict[str, torch.Tensor]:
    """One run's weights, detached and on the CPU: what model.pt holds."""
    return {k: v[r].detach().cpu().clone() for k, v in params.items()}
