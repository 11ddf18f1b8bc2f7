"""How far a dataset's true mixing is from the IMA class: the x axes of the E2 and E6 figures."""

from __future__ import annotations

import numpy as np
import torch

from identvae.data.mixings import Params, mixing_function, mixing_jacobian
from identvae.data.segments import mixing_matrices, segment_mixing_jacobian, whitening_map
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
    s = torch.as_tensor(evenly_spaced(sources, max_points), dtype=torch.float64)
    jac = mixing_jacobian(mixing_function(name, params), s)
    out = {"mixing_cima": float(global_cima(jac))}
    if name == "moebius_linear":
        out["linear_cima"] = float(local_cima(torch.as_tensor(params["L"])))
    return out


def evenly_spaced(rows: np.ndarray | torch.Tensor, max_points: int) -> np.ndarray:
    """At most ``max_points`` evenly spaced rows (all of them when there are fewer)."""
    rows = np.asarray(rows)
    if len(rows) > max_points:
        rows = rows[np.linspace(0, len(rows) - 1, max_points).round().astype(int)]
    return rows


def segment_mixing_properties(
    params: Params,
    sources: np.ndarray,
    activation: str = "xtanh",
    max_points: int = 5000,
    observations: np.ndarray | None = None,
) -> dict[str, float]:
    """How hard an iVAE dataset's true mixing (``identvae.data.segments``) is, from its stored
    matrices: the x axes of the figure of the iVAE's MCC against each draw's mixing.

    ``mixing_cima``: C_IMA of the whole mixing, the mean c_IMA of its Jacobian over the sources
    (evenly spaced rows, at most ``max_points``). ``matrix_cima``: c_IMA of its first matrix
    (as the Jacobian of s -> s A0, i.e. A0 transposed). ``matrix_cond``: the first matrix's
    condition number; ``linear_cond``: that of the product of all its matrices (the mixing's
    linear part: with one matrix repeated in three layers, about its condition number cubed).
    With ``observations`` (the dataset's x), also ``whitened_cima``: the C_IMA of the mixing
    followed by the PCA whitening of x (``segments.whitening_map``), the mixing that a model
    which sees whitened observations has to learn."""
    matrices = [np.asarray(A, dtype=np.float64) for A in mixing_matrices(params)]
    product = np.linalg.multi_dot(matrices) if len(matrices) > 1 else matrices[0]
    jac = segment_mixing_jacobian(evenly_spaced(sources, max_points), params, activation)
    out = {
        "mixing_cima": float(global_cima(jac)),
        "matrix_cima": float(local_cima(matrices[0].T)),
        "matrix_cond": float(np.linalg.cond(matrices[0])),
        "linear_cond": float(np.linalg.cond(product)),
    }
    if observations is not None:
        _, white = whitening_map(observations)
        out["whitened_cima"] = float(global_cima(white.T @ jac))
    return out
