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


def init_mlp(
    prefix: str, sizes: list[int], generators: list[torch.Generator], dtype=torch.float32
) -> Params:
    """Xavier-uniform weights (each run from its own generator), zero biases."""
    params: Params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        w = torch.stack(
            [
                (torch.rand(fan_in, fan_out, generator=g, dtype=torch.float64) * 2 - 1) * bound
                for g in generators
            ]
        )
        params[f"{prefix}.{i}.weight"] = w.to(dtype)
        params[f"{prefix}.{i}.bias"] = torch.zeros(len(generators), 1, fan_out, dtype=dtype)
    return params


def mlp_forward(
    params: Params, prefix: str, n_layers: int, x: torch.Tensor, slope: float = 0.2
) -> torch.Tensor:
    """x [R, B, in] -> [R, B, out]; LeakyReLU between layers, linear output.

    Also works for a single run and sample (weights [in, out], bias [1, out], x [in]), which is
    what torch.func.jacfwd differentiates."""
    for i in range(n_layers):
        w, b = params[f"{prefix}.{i}.weight"], params[f"{prefix}.{i}.bias"]
        x = torch.baddbmm(b, x, w) if x.dim() == 3 else (x @ w + b).squeeze(-2)
        if i < n_layers - 1:
            x = F.leaky_relu(x, slope)
    return x


def run_state_dict(params: Params, r: int) -> dict[str, torch.Tensor]:
    """One run's weights, detached and on the CPU: what model.pt holds."""
    return {k: v[r].detach().cpu().clone() for k, v in params.items()}
