"""How far a dataset's true mixing is from the IMA class: the x axes of the E2 and E6 figures."""

from __future__ import annotations

import numpy as np
import torch

from identvae.data.mixings import Params, mixing_function, mixing_jacobian
from identvae.metrics.ima import global_cima, local_cima


def mixing_contrasts(
    name: str, params: Params, sources: np.ndarray | torch.Tensor, max_points: int = 5000
) -> dict[str, float]:
    """IMA contrasts of a mixing rebuilt from its stored params.

    ``mixing_cima``: the global C_IMA of the whole mixing, the mean of c_IMA(J_f(s)) over the
    sources (evenly spaced rows, at most ``max_points``, so the result is deterministic; the
    rows are i.i.d., so any fixed subset is an unbiased subsample).
    ``linear_cima`` (``moebius_linear`` only): c_IMA of its linear map L, constant over space,
    the paper's E2 x axis. The composite's C_IMA differs from it in general: the Möbius
    Jacobian is conformal but rotates its columns from point to point before L acts on them."""
    s = torch.as_tensor(np.asarray(sources), dtype=torch.float64)
    if len(s) > max_points:
        s = s[np.linspace(0, len(s) - 1, max_points).round().astype(int)]
    jac = mixing_jacobian(mixing_function(name, params), s)
    out = {"mixing_cima": float(global_cima(jac))}
    if name == "moebius_linear":
        out["linear_cima"] = float(local_cima(torch.as_tensor(params["L"])))
    return out
