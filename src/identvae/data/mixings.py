"""Mixing functions f: sources -> observations, written in torch so that their Jacobians come from
torch.func, with their random parameters drawn from an explicit NumPy generator.

A mixing is rebuilt from the parameters stored in the dataset file, so the function used by the
metrics is exactly the one that made the data (the reference code rebuilt a different one).
Everything a mixing needs at evaluation time is an array in its params (options only shape the
draw), so a stored dataset never needs its options to rebuild its mixing.

Registered mixings (``MIXINGS``) and their draw options (``draw_mixing(name, n, rng, **options)``):

- ``moebius`` (E1): conformal, c_IMA = 0 everywhere. No options.
- ``moebius_linear`` (E2): Möbius, then a random non-orthogonal linear map L. Options
  ``linear_norm`` ("unit_det" | "unit_columns"), ``max_cond``.
- ``mlp_orthogonal`` (E3): smooth-leaky-ReLU MLP with Haar orthogonal weights. Option ``n_layers``.
- ``triangular_mlp`` (E4, violates IMA): smooth-leaky-ReLU MLP with triangular weights, so a
  lower-triangular Jacobian. Options ``n_layers``, ``offdiag_scale``, ``diag_range``.
- ``elementwise_orthogonal`` (E4, IMA class): elementwise monotone map, then an orthogonal matrix.
  No options.
- ``affine_coupling`` (E6): randomly initialised affine-coupling flow. Options ``n_layers``,
  ``hidden``.
- ``linear`` (E4 known-answer tests): x = A s with non-orthogonal columns, so c_IMA(A) > 0 is
  constant over space. Option ``singular_range``.

Every mixing has an inverse (``mixing_inverse``), exact or by Newton's method."""

from __future__ import annotations

import inspect
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


# --- smooth leaky ReLU --------------------------------------------------------------------------

NEG_SLOPE = 0.2


def smooth_leaky_relu(x: torch.Tensor) -> torch.Tensor:
    """sigma(x) = 0.2 x + 0.8 softplus(x): smooth, strictly increasing, slope in (0.2, 1), so
    invertible with a well-conditioned inverse. (softplus's default threshold of 20 would be off
    by up to 2e-9 above it; 50 keeps it exact to float64 precision.)"""
    return NEG_SLOPE * x + (1 - NEG_SLOPE) * torch.nn.functional.softplus(x, threshold=50.0)


def smooth_leaky_relu_inverse(y: torch.Tensor, max_iter: int = 100) -> torch.Tensor:
    """sigma^{-1}(y) by Newton's method. sigma is convex and increasing, so after the first step
    the iterates approach the root monotonically from the right; the start (y, or y / 0.2 for
    y < 0) is within a few units of the root, and float64 accuracy comes in ~10 steps."""
    x = torch.where(y > 0, y, y / NEG_SLOPE)
    for _ in range(max_iter):
        slope = NEG_SLOPE + (1 - NEG_SLOPE) * torch.sigmoid(x)
        step = (smooth_leaky_relu(x) - y) / slope
        x = x - step
        if not bool((step.abs() > 1e-13 * (1 + x.abs())).any()):
            break
    return x


# --- Möbius (E1) -------------------------------------------------------------------------------


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


def moebius_inverse(x: torch.Tensor, A: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """The inversion y -> y / ||y||^2 is its own inverse, so s = a + z / ||z||^2 with z = A^T x."""
    z = x @ A
    return a + z / (z * z).sum(-1, keepdim=True)


# --- Möbius then a linear map (E2) -------------------------------------------------------------

LINEAR_NORMS = ("unit_det", "unit_columns")


def random_linear_map(
    n: int, rng: np.random.Generator, linear_norm: str = "unit_det", max_cond: float = 1e4
) -> np.ndarray:
    """L from M ~ U[0, 1]^{n x n}. "Full rank" is taken as cond(M) <= max_cond (M is redrawn
    otherwise): an exactly singular draw has probability 0, and for n = 3 the default only drops
    ~0.1% of draws, the numerically near-singular ones a float32 network could not invert, while
    leaving the spread of c_IMA(L) (~0.5 to ~6 nats) intact. Normalised to |det L| = 1
    ("unit_det", the paper) or to unit column norms ("unit_columns"); c_IMA(L) is the same for
    both since it ignores column scales."""
    if linear_norm not in LINEAR_NORMS:
        raise ValueError(f"unknown linear_norm {linear_norm!r}; known: {LINEAR_NORMS}")
    M = rng.uniform(0.0, 1.0, size=(n, n))
    while not np.linalg.cond(M) <= max_cond:
        M = rng.uniform(0.0, 1.0, size=(n, n))
    if linear_norm == "unit_det":
        return M / abs(np.linalg.det(M)) ** (1.0 / n)
    return M / np.linalg.norm(M, axis=0, keepdims=True)


def moebius_linear_params(
    n: int, rng: np.random.Generator, *, linear_norm: str = "unit_det", max_cond: float = 1e4
) -> Params:
    """The E1 Möbius parameters (drawn first, so the same stream gives the same Möbius map as
    ``moebius``), then the linear map L."""
    params = moebius_params(n, rng)
    params["L"] = random_linear_map(n, rng, linear_norm, max_cond)
    return params


def moebius_linear(
    s: torch.Tensor, A: torch.Tensor, a: torch.Tensor, L: torch.Tensor
) -> torch.Tensor:
    """x = L f_moebius(s)."""
    return moebius(s, A, a) @ L.T


def moebius_linear_inverse(
    x: torch.Tensor, A: torch.Tensor, a: torch.Tensor, L: torch.Tensor
) -> torch.Tensor:
    return moebius_inverse(torch.linalg.solve(L, x.unsqueeze(-1)).squeeze(-1), A, a)


# --- MLP with orthogonal weights (E3) ----------------------------------------------------------


def _check_layers(n_layers: int) -> None:
    if int(n_layers) != n_layers or n_layers < 1:
        raise ValueError(f"n_layers must be a positive integer, got {n_layers!r}")


def mlp_orthogonal_params(n: int, rng: np.random.Generator, *, n_layers: int = 3) -> Params:
    """W [n_layers, n, n], each Haar-random orthogonal."""
    _check_layers(n_layers)
    return {"W": np.stack([haar_orthogonal(n, rng) for _ in range(int(n_layers))])}


def mlp_mixing(s: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """h <- sigma(h) W_l for each layer (row-vector convention, sigma before every matrix), so
    the last operation is linear. Shared by the orthogonal and the triangular MLP."""
    h = s
    for layer in W:
        h = smooth_leaky_relu(h) @ layer
    return h


def mlp_mixing_inverse(x: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    h = x
    for layer in reversed(list(W)):
        h = smooth_leaky_relu_inverse(torch.linalg.solve(layer.T, h.unsqueeze(-1)).squeeze(-1))
    return h


# --- MLP with triangular weights (E4, IMA-violating) -------------------------------------------


def triangular_mlp_params(
    n: int,
    rng: np.random.Generator,
    *,
    n_layers: int = 3,
    offdiag_scale: float = 1.0,
    diag_range: tuple[float, float] = (0.5, 1.5),
) -> Params:
    """W [n_layers, n, n], each upper triangular in the row-vector convention h <- sigma(h) W, so
    output i depends on inputs 1..i and every Jacobian J_f = dx/ds is lower triangular.

    Diagonal entries are U(diag_range) in magnitude with a random sign, so |W_ii| >= 0.5
    (invertible, and |det J| >= prod (0.2 * 0.5) since sigma' > 0.2). Off-diagonal entries
    (above the diagonal) have magnitude offdiag_scale * U(diag_range) and a random sign: as large
    as the diagonal on every draw, so the columns are far from orthogonal for every seed (with
    N(0, 1) entries some draws came out nearly orthogonal). For n = 3 the global C_IMA under
    N(0, I) sources is ~0.4 to ~3 nats (median ~1.8), cond(J) mostly below ~1e3."""
    _check_layers(n_layers)
    lo, hi = diag_range
    if not 0 < lo <= hi:
        raise ValueError(f"diag_range must satisfy 0 < low <= high, got {diag_range!r}")
    layers = []
    for _ in range(int(n_layers)):
        magnitude = rng.uniform(lo, hi, size=(n, n))
        sign = rng.choice([-1.0, 1.0], size=(n, n))
        W = np.triu(offdiag_scale * magnitude * sign, k=1)
        W[np.diag_indices(n)] = (magnitude * sign).diagonal()
        layers.append(W)
    return {"W": np.stack(layers)}


# --- elementwise nonlinearity then an orthogonal matrix (E4, IMA class) ------------------------


def elementwise_orthogonal_params(n: int, rng: np.random.Generator) -> Params:
    """Q Haar orthogonal; per-coordinate scale b ~ U(0.5, 2) and shift c ~ U(-1, 1) of the
    smooth leaky ReLU, so the coordinates bend differently and at different places."""
    return {
        "Q": haar_orthogonal(n, rng),
        "b": rng.uniform(0.5, 2.0, size=n),
        "c": rng.uniform(-1.0, 1.0, size=n),
    }


def elementwise_orthogonal(
    s: torch.Tensor, Q: torch.Tensor, b: torch.Tensor, c: torch.Tensor
) -> torch.Tensor:
    """x = Q h(s), h_i(s_i) = sigma(b_i s_i + c_i). J = Q diag(h'(s)) has orthogonal columns,
    so c_IMA = 0 at every point."""
    return smooth_leaky_relu(b * s + c) @ Q.T


def elementwise_orthogonal_inverse(
    x: torch.Tensor, Q: torch.Tensor, b: torch.Tensor, c: torch.Tensor
) -> torch.Tensor:
    return (smooth_leaky_relu_inverse(x @ Q) - c) / b


# --- affine-coupling flow (E6) -----------------------------------------------------------------


def affine_coupling_params(
    n: int, rng: np.random.Generator, *, n_layers: int = 2, hidden: int = 10
) -> Params:
    """Untrained RealNVP-style flow. Each coupling layer keeps the first k = n // 2 coordinates
    and transforms the other n - k: x_b <- x_b * exp(s(x_a)) + t(x_a). The log-scale s and the
    shift t come from two separate conditioner MLPs k -> hidden -> n - k (LeakyReLU 0.2), so
    each is literally the paper's 2 -> 10 -> 2 for n = 4. Weights and biases are drawn like
    torch.nn.Linear's default init, U(+-1/sqrt(fan_in)), i.e. a randomly initialised flow.

    Stacked arrays, index [layer, net] with net 0 = log-scale, 1 = shift:
    W1 [L, 2, hidden, k], b1 [L, 2, hidden], W2 [L, 2, n-k, hidden], b2 [L, 2, n-k]."""
    _check_layers(n_layers)
    if n < 2:
        raise ValueError("affine_coupling needs n >= 2")
    k, L = n // 2, int(n_layers)

    def uniform(fan_in: int, shape: tuple[int, ...]) -> np.ndarray:
        bound = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, size=shape)

    return {
        "W1": uniform(k, (L, 2, hidden, k)),
        "b1": uniform(k, (L, 2, hidden)),
        "W2": uniform(hidden, (L, 2, n - k, hidden)),
        "b2": uniform(hidden, (L, 2, n - k)),
    }


def _conditioner(
    xa: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor
) -> torch.Tensor:
    h = torch.nn.functional.leaky_relu(xa @ W1.T + b1, negative_slope=0.2)
    return h @ W2.T + b2


def affine_coupling(
    s: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor
) -> torch.Tensor:
    """Coupling layers with the coordinate order reversed between layers, so the coordinates
    kept fixed by one layer are transformed by the next (no flip after the last layer)."""
    k = W1.shape[-1]
    h = s
    for layer in range(W1.shape[0]):
        if layer > 0:
            h = h.flip(-1)
        xa, xb = h[..., :k], h[..., k:]
        log_scale = _conditioner(xa, W1[layer, 0], b1[layer, 0], W2[layer, 0], b2[layer, 0])
        shift = _conditioner(xa, W1[layer, 1], b1[layer, 1], W2[layer, 1], b2[layer, 1])
        h = torch.cat([xa, xb * torch.exp(log_scale) + shift], dim=-1)
    return h


def affine_coupling_inverse(
    x: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor
) -> torch.Tensor:
    k = W1.shape[-1]
    h = x
    for layer in reversed(range(W1.shape[0])):
        xa, yb = h[..., :k], h[..., k:]
        log_scale = _conditioner(xa, W1[layer, 0], b1[layer, 0], W2[layer, 0], b2[layer, 0])
        shift = _conditioner(xa, W1[layer, 1], b1[layer, 1], W2[layer, 1], b2[layer, 1])
        h = torch.cat([xa, (yb - shift) * torch.exp(-log_scale)], dim=-1)
        if layer > 0:
            h = h.flip(-1)
    return h


# --- linear map (E4 known-answer tests) --------------------------------------------------------


def linear_params(
    n: int, rng: np.random.Generator, *, singular_range: tuple[float, float] = (0.3, 3.0)
) -> Params:
    """A = U diag(sv) V^T with U, V Haar orthogonal and singular values log-uniform in
    ``singular_range``: unequal singular values and a random V make the columns non-orthogonal
    (c_IMA(A) > 0), while cond(A) <= high / low keeps it well conditioned."""
    lo, hi = singular_range
    if not 0 < lo <= hi:
        raise ValueError(f"singular_range must satisfy 0 < low <= high, got {singular_range!r}")
    sv = np.exp(rng.uniform(np.log(lo), np.log(hi), size=n))
    return {"A": haar_orthogonal(n, rng) @ np.diag(sv) @ haar_orthogonal(n, rng).T}


def linear(s: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """x = A s (row-vector convention: s @ A^T)."""
    return s @ A.T


def linear_inverse(x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    return torch.linalg.solve(A, x.unsqueeze(-1)).squeeze(-1)


# --- registry ----------------------------------------------------------------------------------

MIXINGS: dict[str, tuple[Callable[..., Params], Callable]] = {
    "moebius": (moebius_params, moebius),
    "moebius_linear": (moebius_linear_params, moebius_linear),
    "mlp_orthogonal": (mlp_orthogonal_params, mlp_mixing),
    "triangular_mlp": (triangular_mlp_params, mlp_mixing),
    "elementwise_orthogonal": (elementwise_orthogonal_params, elementwise_orthogonal),
    "affine_coupling": (affine_coupling_params, affine_coupling),
    "linear": (linear_params, linear),
}

INVERSES: dict[str, Callable] = {
    "moebius": moebius_inverse,
    "moebius_linear": moebius_linear_inverse,
    "mlp_orthogonal": mlp_mixing_inverse,
    "triangular_mlp": mlp_mixing_inverse,
    "elementwise_orthogonal": elementwise_orthogonal_inverse,
    "affine_coupling": affine_coupling_inverse,
    "linear": linear_inverse,
}


def _check_name(name: str) -> None:
    if name not in MIXINGS:
        raise ValueError(f"unknown mixing {name!r}; known: {sorted(MIXINGS)}")


def mixing_options(name: str) -> dict[str, object]:
    """The draw options a mixing accepts, with their defaults."""
    _check_name(name)
    sig = inspect.signature(MIXINGS[name][0])
    return {p.name: p.default for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY}


def draw_mixing(name: str, n: int, rng: np.random.Generator, **options) -> Params:
    """Draw a mixing's parameters; ``options`` are the mixing's keyword-only draw options
    (unknown ones raise ValueError rather than being silently ignored)."""
    unknown = set(options) - set(mixing_options(name))
    if unknown:
        raise ValueError(
            f"mixing {name!r} has no option(s) {sorted(unknown)}; "
            f"known: {sorted(mixing_options(name))}"
        )
    return MIXINGS[name][0](n, rng, **options)


def _tensors(params: Params) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v, dtype=torch.float64) for k, v in params.items() if k != "center"}


def mixing_function(name: str, params: Params) -> Callable[[torch.Tensor], torch.Tensor]:
    """The mixing as a torch function of sources (float64), including the centring offset if the
    params hold one. Works on a single sample [n] or a batch [..., n]."""
    _check_name(name)
    fn = MIXINGS[name][1]
    tensors = _tensors(params)
    center = torch.as_tensor(params.get("center", 0.0), dtype=torch.float64)

    def f(s: torch.Tensor) -> torch.Tensor:
        return fn(s, **tensors) - center

    return f


def mixing_inverse(name: str, params: Params) -> Callable[[torch.Tensor], torch.Tensor]:
    """g = f^{-1} as a torch function of observations [..., d] (float64), undoing the centring
    first, so ``mixing_inverse(name, p)(mixing_function(name, p)(s)) == s``."""
    _check_name(name)
    fn = INVERSES[name]
    tensors = _tensors(params)
    center = torch.as_tensor(params.get("center", 0.0), dtype=torch.float64)

    def g(x: torch.Tensor) -> torch.Tensor:
        return fn(x + center, **tensors)

    return g


def mixing_jacobian(f: Callable[[torch.Tensor], torch.Tensor], s: torch.Tensor) -> torch.Tensor:
    """Jacobians J_f(s) [N, d, n] at sources s [N, n], vectorised with torch.func."""
    return torch.func.vmap(torch.func.jacfwd(f))(s)
