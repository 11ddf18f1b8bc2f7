"""Segment-modulated data of the iVAE paper (docs/papers/ivae.md sections 2, 5 and 9), and user data
files.

Sources are nonstationary: the data are M contiguous segments of L points, and within segment k
the sources are ``s = sigma[k] * eps + m[k]`` with independent unit-variance noise ``eps``. The
segment label u is the auxiliary variable of the iVAE. The mixing is an MLP whose matrices are
random, column-normalised and well conditioned (redrawn until the condition number is at most a
quantile of the condition numbers of such random matrices), row-vector convention
``X = act(act(S A0) A1) A2``.

**The authors' datasets.** ``generate_segments`` draws in the order of the official iVAE code
(docs/papers/ivae.md section 9): one legacy NumPy stream ``RandomState(seed)``, sources before the
mixing, the sources, matrices and observations in float32, so a data seed gives the authors' own
dataset bit for bit (tested against their seed-1 file). Where the official code has no such option
(staircase thresholds, Bernoulli draws) the draw order is ours and documented where it is made.

Everything here is NumPy (no torch): ``check_user_file`` runs when the workflow is parsed, so
importing this module must stay light. ``Dataset`` is imported only inside the functions that
build one (``identvae.data.datasets`` imports torch).

Randomness: every function takes an explicit random state (a ``numpy.random.RandomState``, as the
official code's global stream, or a ``numpy.random.Generator``) and its result depends only on
that state (no caches, no global state), so results never depend on call order."""

from __future__ import annotations

import numbers
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from identvae.io import ArtifactError

if TYPE_CHECKING:
    from identvae.data.datasets import Dataset

Params = dict[str, np.ndarray]
#: What the draws read: the official code's legacy stream, or a modern Generator (the SEM).
Random = np.random.RandomState | np.random.Generator

# --- well-conditioned random matrices ----------------------------------------------------------

_COND_CHUNK = 1000  # matrices per np.linalg.cond call: bounds memory (100 x 100 x 1000 x 4 B)


def _normalise_columns(A: np.ndarray) -> np.ndarray:
    """Divide each column of the float32 matrices A [..., n_in, n_out] by its L2 norm, column
    by column in float32 as the official code does (``A[:, i] /= sqrt((A[:, i] ** 2).sum())``),
    so the rounding is theirs."""
    for i in range(A.shape[-1]):
        column = A[..., :, i]
        A[..., :, i] = column / np.sqrt((column**2).sum(-1, keepdims=True))
    return A


def _staircase_pattern(A: np.ndarray) -> np.ndarray:
    """First column e1 and, when n_out > 2, the rest of row 1 zero (the official code's rule),
    so in ``h @ A`` output 1 is input 1 and input 1 reaches no other output. Set on the drawn
    entries before their columns are normalised (our order: the official code has none)."""
    n_in, n_out = A.shape[-2:]
    if n_in < 2 or n_out < 2:
        raise ValueError(
            f"a staircase matrix needs at least 2 rows and columns, got {n_in}x{n_out}"
        )
    A[..., :, 0] = 0.0
    A[..., 0, 0] = 1.0
    if n_out > 2:
        A[..., 0, 1:] = 0.0
    return A


def random_unit_column_matrices(
    count: int, n_in: int, n_out: int, rng: Random, *, staircase: bool = False
) -> np.ndarray:
    """``count`` float32 matrices [n_in, n_out] with entries U(-1, 1) and L2-normalised columns:
    ``count`` consecutive draws ``uniform(-1, 1, (n_in, n_out)).astype(float32)`` of the stream
    (one call of the stacked shape reads the same numbers in the same order).

    ``staircase``: see ``_staircase_pattern``."""
    A = rng.uniform(-1.0, 1.0, size=(count, n_in, n_out)).astype(np.float32)
    if staircase:
        A = _staircase_pattern(A)
    return _normalise_columns(A)


def condition_threshold(
    n_in: int,
    n_out: int,
    rng: Random,
    draws: int = 10_000,
    quantile: float = 25.0,
    *,
    staircase: bool = False,
) -> float:
    """The ``quantile``-th percentile of the condition numbers of ``draws`` random matrices
    [n_in, n_out] (``random_unit_column_matrices``, staircase ones with ``staircase``): the paper's
    "well conditioned" bar, estimated as the official code does (docs/papers/ivae.md section 9).

    A staircase threshold comes from staircase draws (the official code used unconstrained
    ones): their condition numbers have another distribution, and for n_in = 2 < n_out every
    staircase matrix has cond 2, above the unconstrained 25th percentile (~1.27 for 2 x 5), so
    no draw would ever pass; this way a quarter of the draws pass in every case.

    Not cached on purpose: the value is a Monte-Carlo estimate, so a cache would make a result
    depend on which call came first; this way it depends only on ``rng``. Vectorised (stacked
    ``np.linalg.cond`` in chunks of 1000): about 0.05 s for 5 x 5 and 0.5 s for 10 x 100 at
    10^4 draws on one core, ~10 s for 100 x 100."""
    if int(draws) != draws or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    if not 0.0 < quantile <= 100.0:
        raise ValueError(f"quantile must be in (0, 100], got {quantile!r}")
    conds = []
    for start in range(0, int(draws), _COND_CHUNK):
        count = min(_COND_CHUNK, int(draws) - start)
        matrices = random_unit_column_matrices(count, n_in, n_out, rng, staircase=staircase)
        conds.append(np.linalg.cond(matrices))
    return float(np.percentile(np.concatenate(conds), quantile))


def well_conditioned_matrix(
    n_in: int,
    n_out: int,
    rng: Random,
    threshold: float,
    max_tries: int = 10_000,
    *,
    staircase: bool = False,
) -> np.ndarray:
    """A random unit-column float32 matrix [n_in, n_out], redrawn until cond(A) <= ``threshold``
    (expected 4 draws at the default 25th percentile), each draw the official
    ``(uniform(0, 2, (n_in, n_out)) - 1).astype(float32)``. ``staircase`` as in
    ``random_unit_column_matrices``; pair it with a staircase ``condition_threshold``."""
    if not threshold >= 1.0:
        raise ValueError(
            f"a condition number is at least 1; threshold {threshold!r} is unreachable"
        )
    for _ in range(int(max_tries)):
        A = (rng.uniform(0.0, 2.0, size=(n_in, n_out)) - 1.0).astype(np.float32)
        if staircase:
            A = _staircase_pattern(A)
        A = _normalise_columns(A)
        if np.linalg.cond(A) <= threshold:
            return A
    raise RuntimeError(
        f"no {n_in}x{n_out} matrix{' (staircase)' if staircase else ''} with condition number "
        f"<= {threshold:.4g} in {max_tries} draws; raise the threshold's quantile or max_tries"
    )


# --- the mixing MLP ----------------------------------------------------------------------------

XTANH_SLOPE = 0.1
LRELU_SLOPE = 0.2


def xtanh(x: np.ndarray) -> np.ndarray:
    """tanh(x) + 0.1 x in the dtype of x: smooth and strictly increasing (slope in (0.1, 1.1]),
    so invertible."""
    return np.tanh(x) + XTANH_SLOPE * x


def leaky_relu(x: np.ndarray) -> np.ndarray:
    """Leaky ReLU with negative slope 0.2 in the dtype of x: strictly increasing, so
    invertible."""
    return np.where(x > 0, x, LRELU_SLOPE * x)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "xtanh": xtanh,
    "lrelu": leaky_relu,
    "none": lambda x: x,
}


#: Their derivatives, for the mixing's Jacobian.
ACTIVATION_SLOPES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "xtanh": lambda x: 1.0 - np.tanh(x) ** 2 + XTANH_SLOPE,
    "lrelu": lambda x: np.where(x > 0, 1.0, LRELU_SLOPE),
    "none": lambda x: np.ones_like(x),
}


def _activation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def draw_segment_mixing(
    n_sources: int,
    obs_dim: int,
    rng: Random,
    *,
    n_layers: int = 3,
    repeat_matrix: bool = True,
    staircase: bool = False,
    draws: int = 10_000,
    quantile: float = 25.0,
) -> Params:
    """The mixing MLP's float32 matrices "A0" [n_sources, obs_dim], "A1", ... [obs_dim,
    obs_dim], each well conditioned against a threshold estimated for its shape just before it
    (``condition_threshold``), and "condition_thresholds" [n_layers], the threshold each met.

    Draw order (the official code's): ``repeat_matrix`` (the
    official dataset class's setting): the threshold of A0's shape, then A0; with n_sources
    < obs_dim and more than one layer also a square threshold and one square matrix B; A0 is
    then used in every layer (square case), or A0 first and B in every later layer. Without
    ``repeat_matrix``: a fresh threshold and matrix per layer, in layer order. Repeated
    matrices are stored once per layer, so ``apply_segment_mixing`` treats both cases alike.

    ``staircase``: every matrix has first column e1 and (obs_dim > 2) zeros elsewhere in row 1,
    so observation 0 is source 0 passed through the activations alone; the thresholds then come
    from staircase draws (``condition_threshold``)."""
    if int(n_layers) != n_layers or n_layers < 1:
        raise ValueError(f"n_layers must be a positive integer, got {n_layers!r}")
    if n_sources > obs_dim:
        raise ValueError(
            f"n_sources ({n_sources}) > obs_dim ({obs_dim}): the mixing is not injective"
        )

    def draw(n_in: int) -> tuple[np.ndarray, float]:
        threshold = condition_threshold(n_in, obs_dim, rng, draws, quantile, staircase=staircase)
        return well_conditioned_matrix(
            n_in, obs_dim, rng, threshold, staircase=staircase
        ), threshold

    if repeat_matrix:
        first = draw(n_sources)
        square = first if n_sources == obs_dim or n_layers == 1 else draw(obs_dim)
        layers = [first] + [square] * (int(n_layers) - 1)
    else:
        layers = [draw(n_sources if i == 0 else obs_dim) for i in range(int(n_layers))]
    params = {f"A{i}": A.copy() for i, (A, _) in enumerate(layers)}
    params["condition_thresholds"] = np.asarray([t for _, t in layers])
    return params


def mixing_matrices(params: Params) -> list[np.ndarray]:
    """The matrices A0, A1, ... of a mixing's params in layer order (other keys ignored), in
    their stored dtype."""
    index = {int(m.group(1)): k for k in params if (m := re.fullmatch(r"A(\d+)", k))}
    if sorted(index) != list(range(len(index))) or not index:
        raise ValueError(f"mixing params need matrices A0..A<L-1>, got {sorted(params)}")
    return [np.asarray(params[index[i]]) for i in range(len(index))]


def apply_segment_mixing(s: np.ndarray, params: Params, activation: str = "xtanh") -> np.ndarray:
    """X = act(... act(S A0) A1 ...) A_last in the dtype of ``s`` (float32 sources and matrices
    give the official code's float32 products): the activation after every layer except the
    last, so one layer is linear whatever ``activation`` says."""
    act = _activation(activation)
    h = np.asarray(s)
    matrices = mixing_matrices(params)
    for i, A in enumerate(matrices):
        h = h @ A.astype(h.dtype)
        if i < len(matrices) - 1:
            h = act(h)
    return h


def segment_mixing_jacobian(s: np.ndarray, params: Params, activation: str = "xtanh") -> np.ndarray:
    """Jacobians dx/ds [N, d, n] (float64) of ``apply_segment_mixing`` at the sources s [N, n]:
    with h_l the pre-activations, J = A_L^T diag(act'(h_(L-1))) ... diag(act'(h_1)) A_1^T in
    the column convention (written out: each layer is a product and an elementwise map)."""
    act, slope = _activation(activation), ACTIVATION_SLOPES[activation]
    first, *later = (A.astype(np.float64) for A in mixing_matrices(params))
    h = np.asarray(s, dtype=np.float64) @ first
    jac = np.broadcast_to(first.T, (len(h), *first.T.shape))
    for A in later:
        jac = np.einsum("kd,nkj->ndj", A, slope(h)[:, :, None] * jac)
        h = act(h) @ A
    return np.ascontiguousarray(jac)


def whitening_map(x: np.ndarray, components: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(shift [d], W [d, d]) such that (x - shift) W has zero mean and identity covariance: PCA
    whitening of the observations x [N, d] (float64), W = V Λ^(-1/2) from the eigenvectors and
    eigenvalues of their covariance.

    ``components`` (the number of sources n, when n < d): only the n largest principal
    directions get unit variance; each smaller one is divided by the n-th largest standard
    deviation, so keeps its variance below 1 instead of being blown up. With n sources the data
    vary along n directions; the others carry only the mixing's curvature, which full whitening
    would make as large as the sources. A singular covariance (a constant or duplicated column)
    is refused, naming its eigenvalues."""
    x = np.asarray(x, dtype=np.float64)
    values, vectors = np.linalg.eigh(np.cov(x, rowvar=False))  # ascending
    if values.min() <= 1e-12 * max(values.max(), 1e-300):
        raise ValueError(
            "cannot whiten observations whose covariance is singular (eigenvalues "
            f"{values.min():.3g} to {values.max():.3g}): a constant or duplicated column?"
        )
    if components is not None and components < len(values):
        values = np.maximum(values, values[-components])
    return x.mean(0), vectors / np.sqrt(values)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow for large |x|."""
    return np.exp(-np.logaddexp(0.0, -x))


# --- segment-modulated sources -----------------------------------------------------------------

NOISES = ("gaussian", "laplace")
STD_RANGE = (0.5, 3.0)  # sigma ~ U(0.5, 3): a standard deviation, so variances span [0.25, 9]
MEAN_RANGE = (-5.0, 5.0)
STAIRCASE_STEP = 3.0
STAIRCASE_OTHER_MEANS = (-1.0, 1.0)  # uncentred staircase data: the other sources' means


def _unit_noise(kind: str, shape: tuple[int, ...], rng: Random) -> np.ndarray:
    if kind == "gaussian":
        return rng.standard_normal(shape)
    if kind == "laplace":
        return rng.laplace(0.0, 1.0 / np.sqrt(2.0), size=shape)  # variance 2 b^2 = 1
    raise ValueError(f"unknown noise {kind!r}; known: {NOISES}")


def draw_segment_sources(
    n_segments: int,
    segment_size: int,
    n_sources: int,
    rng: Random,
    *,
    noise: str = "gaussian",
    centered: bool = True,
    staircase: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sources [N, n] float32, labels [N] int64, means [M, n], stds [M, n]), N = M L.

    Segments are contiguous blocks: points k L .. (k + 1) L - 1 have label k. Within segment k,
    ``s = stds[k] * eps + means[k]`` with eps unit-variance ``noise``; ``stds ~ U(0.5, 3)`` per
    (segment, component), a standard deviation. ``centered``: means 0 (variance modulation
    only); otherwise means ~ U(-5, 5) per (segment, component).

    ``staircase``: source 0 has mean 3 k in segment pi(k) for a random permutation pi of the
    segments; the other sources have mean 0 (``centered``) or U(-1, 1) per segment. The stds
    are drawn as usual for every component (the spec keeps the variance modulation), so with
    stds up to 3 neighbouring steps of source 0 overlap.

    Draw order (the official code's): stds, the means (uncentred:
    ``uniform(-5, 5, (M, n))``; staircase: ``permutation(M)``, then uncentred
    ``uniform(-1, 1, (M, n - 1))``), then eps ``[N, n]`` cast to float32; each segment's rows
    are scaled by its stds and shifted by its means in float64 and rounded back to float32, as
    the official code's in-place float32 updates are."""
    M, L, n = int(n_segments), int(segment_size), int(n_sources)
    stds = rng.uniform(*STD_RANGE, size=(M, n))
    means = np.zeros((M, n))
    if staircase:
        means[:, 0] = STAIRCASE_STEP * rng.permutation(M)
        if not centered:
            means[:, 1:] = rng.uniform(*STAIRCASE_OTHER_MEANS, size=(M, n - 1))
    elif not centered:
        means = rng.uniform(*MEAN_RANGE, size=(M, n))
    labels = np.repeat(np.arange(M, dtype=np.int64), L)
    eps = _unit_noise(noise, (M * L, n), rng).astype(np.float32)
    scaled = (eps * stds[labels]).astype(np.float32)
    return (scaled + means[labels]).astype(np.float32), labels, means, stds


# --- generated datasets ------------------------------------------------------------------------

REQUIRED_KEYS = ("n_segments", "segment_size", "n_sources")
DEFAULTS: dict[str, Any] = {
    "obs_dim": None,  # None: obs_dim = n_sources
    "noise": "gaussian",
    "centered": True,
    "mixing_layers": 3,
    "activation": "xtanh",
    "repeat_matrix": True,
    "staircase": False,
    "obs_noise_std": 0.0,
    "observation": "continuous",
    "condition_draws": 10_000,
    "condition_quantile": 25.0,
}
OBSERVATIONS = ("continuous", "bernoulli")
#: ``Dataset.mixing_name`` of the generated segment data (continuous, Bernoulli).
MIXING_NAMES = ("segment_mlp", "segment_bernoulli")


def _positive_int(settings: dict[str, Any], key: str) -> int:
    value = settings[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"segment data: {key} must be a positive integer, got {value!r}")
    return int(value)


def _flag(settings: dict[str, Any], key: str) -> bool:
    value = settings[key]
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"segment data: {key} must be true or false, got {value!r}")
    return bool(value)


def _choice(settings: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    if settings[key] not in allowed:
        raise ValueError(f"segment data: {key} must be one of {allowed}, got {settings[key]!r}")
    return settings[key]


def segment_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The config's segment-data keys with defaults filled in, checked (ValueError naming the
    key). Other keys of ``config`` are ignored."""
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if missing:
        raise ValueError(f"segment data: config lacks {missing}")
    s = DEFAULTS | {k: v for k, v in config.items() if k in DEFAULTS or k in REQUIRED_KEYS}
    if s["obs_dim"] is None:
        s["obs_dim"] = s["n_sources"]
    for key in (*REQUIRED_KEYS, "obs_dim", "mixing_layers", "condition_draws"):
        s[key] = _positive_int(s, key)
    for key in ("centered", "repeat_matrix", "staircase"):
        s[key] = _flag(s, key)
    _choice(s, "noise", NOISES)
    _choice(s, "activation", tuple(ACTIVATIONS))
    _choice(s, "observation", OBSERVATIONS)
    if s["n_sources"] > s["obs_dim"]:
        raise ValueError(
            f"segment data: n_sources ({s['n_sources']}) > obs_dim ({s['obs_dim']}); only the "
            "square and undercomplete (n_sources < obs_dim) cases are identifiable"
        )
    std = s["obs_noise_std"]
    if isinstance(std, bool) or not isinstance(std, numbers.Real) or not 0.0 <= std < np.inf:
        raise ValueError(f"segment data: obs_noise_std must be a finite number >= 0, got {std!r}")
    q = s["condition_quantile"]
    if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0.0 < q <= 100.0:
        raise ValueError(f"segment data: condition_quantile must be in (0, 100], got {q!r}")
    if s["observation"] == "bernoulli" and s["mixing_layers"] != 1:
        raise ValueError(
            "segment data: observation 'bernoulli' uses one linear layer, "
            f"x ~ Bernoulli(sigmoid(s A)); set mixing_layers: 1 (got {s['mixing_layers']})"
        )
    if s["staircase"] and min(s["n_sources"], s["obs_dim"]) < 2:
        raise ValueError("segment data: staircase data needs n_sources and obs_dim >= 2")
    return s


def generate_segments(config: dict[str, Any], seed: int) -> Dataset:
    """A segment-modulated dataset (``segment_settings`` lists the keys), drawn in the official
    code's order from ``RandomState(seed)`` (docs/papers/ivae.md section 9): sources
    (``draw_segment_sources``), then the mixing (``draw_segment_mixing``), applied in float32, then
    observation noise. So the default settings with M = 40, L = 1000, n = d = 5 and seed 1 give the
    authors' own Fig. 2a dataset bit for bit, and every setting changes the whole draw (the mixing
    of a seed differs between segment counts, as in the official code).

    observation "continuous": x = mixing(s), plus ``obs_noise_std * randn`` added last (float32).
    "bernoulli" (the discrete supplement, one linear layer): the noise goes into the logits (the
    official code's order), then ``uniform(0, 1, x.shape)`` draws x = 1 where it falls below
    sigmoid(logits), as float32 0/1 (our draw order: the official discrete script has its own).

    The iVAE protocol trains and evaluates on the full set, so ``split`` is all 0 (train).
    ``mixing_params``: A0, A1, ..., condition_thresholds, segment_means [M, n], segment_stds
    [M, n]; ``config`` is ``dict(config)`` (with its n_segments)."""
    from identvae.data.datasets import Dataset

    s = segment_settings(config)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.RandomState(int(seed))
    sources, labels, means, stds = draw_segment_sources(
        s["n_segments"],
        s["segment_size"],
        s["n_sources"],
        rng,
        noise=s["noise"],
        centered=s["centered"],
        staircase=s["staircase"],
    )
    params = draw_segment_mixing(
        s["n_sources"],
        s["obs_dim"],
        rng,
        n_layers=s["mixing_layers"],
        repeat_matrix=s["repeat_matrix"],
        staircase=s["staircase"],
        draws=s["condition_draws"],
        quantile=float(s["condition_quantile"]),
    )
    x = apply_segment_mixing(sources, params, s["activation"])
    if s["obs_noise_std"] > 0:
        x += s["obs_noise_std"] * rng.standard_normal(x.shape)
    name = MIXING_NAMES[0]
    if s["observation"] == "bernoulli":
        x = (rng.uniform(0.0, 1.0, x.shape) < sigmoid(x.astype(np.float64))).astype(np.float32)
        name = MIXING_NAMES[1]
    params |= {"segment_means": means, "segment_stds": stds}
    return Dataset(
        sources=sources,
        observations=x.astype(np.float32),
        split=np.zeros(len(x), dtype=np.int8),
        mixing_name=name,
        mixing_params=params,
        config=dict(config),
        seed=int(seed),
        labels=labels,
    )


# --- user data files ---------------------------------------------------------------------------

FLOAT32_MAX = float(np.finfo(np.float32).max)


def n_segments_needed(latent_dim: int, learned_prior_mean: bool) -> int:
    """Distinct values of u the iVAE theorem needs: n k + 1, with k sufficient statistics per
    component (k = 1 for a zero-mean, variance-only Gaussian prior; k = 2 with a learned mean)."""
    return int(latent_dim) * (2 if learned_prior_mean else 1) + 1


def _real(a: np.ndarray) -> bool:
    return np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)


def _finite(a: np.ndarray) -> bool:
    """Finite, and within float32's range (the arrays are stored as float32)."""
    if a.size == 0:
        return True
    return bool(np.isfinite(a).all()) and float(np.abs(a).max()) <= FLOAT32_MAX


def _read_user_file(path: Path, latent_dim: int, learned_prior_mean: bool) -> dict[str, Any]:
    """All checks of a user file; returns its arrays (x, u, s or None) and the remapped labels."""
    if (
        isinstance(latent_dim, bool)
        or not isinstance(latent_dim, numbers.Integral)
        or latent_dim < 1
    ):
        raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}")

    def fail(problem: str) -> ArtifactError:
        return ArtifactError(f"user data file {path}: {problem}")

    if not path.is_file():
        raise fail("no such file")
    try:
        with open(path, "rb") as f:  # np.load would read anything but zip and .npy as a pickle
            magic = f.read(4)
    except OSError as err:
        raise fail(f"cannot be read ({err})") from None
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        kind = "a single .npy array" if magic == b"\x93NUM" else "not a zip archive"
        raise fail(f"not an NPZ file ({kind}); write it with np.savez(path, x=..., u=...)")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise fail(f"not a readable NPZ file ({err})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise fail(
            "not an NPZ archive (a single .npy array?); write it with np.savez(path, x=..., u=...)"
        )
    with loaded as f:
        for key in ("x", "u"):
            if key not in f.files:
                raise fail(f"missing array {key!r} (the file has {sorted(f.files)})")
        try:
            arrays = {k: f[k] for k in ("x", "u", "s") if k in f.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise fail(f"not a readable NPZ file ({err})") from None

    x, u, s = arrays["x"], arrays["u"], arrays.get("s")
    if x.ndim != 2:
        raise fail(f"x must be 2-D [N, d], got shape {x.shape}")
    if not _real(x):
        raise fail(f"x must be real numbers, got dtype {x.dtype}")
    n, d = x.shape
    if n == 0 or d == 0:
        raise fail(f"x is empty (shape {x.shape})")
    if not _finite(x):
        raise fail("x contains NaN or inf (or values beyond float32's range)")
    if u.ndim != 1:
        raise fail(f"u must be 1-D [N] segment labels, got shape {u.shape}")
    if np.issubdtype(u.dtype, np.floating):
        if not (np.isfinite(u).all() and np.array_equal(u, np.round(u))):
            raise fail("u must be integer-valued segment labels, got non-integer values")
    elif not np.issubdtype(u.dtype, np.integer):
        raise fail(f"u must be integer-valued segment labels, got dtype {u.dtype}")
    if len(u) != n:
        raise fail(f"x has {n} rows but u has {len(u)} labels")
    if s is not None:
        if s.ndim != 2 or s.shape[0] != n or s.shape[1] < 1:
            raise fail(f"s (true sources) must be [N, n] = [{n}, n >= 1], got shape {s.shape}")
        if not _real(s):
            raise fail(f"s must be real numbers, got dtype {s.dtype}")
        if not _finite(s):
            raise fail("s contains NaN or inf (or values beyond float32's range)")
    if d < latent_dim:
        raise fail(f"x has d = {d} columns, fewer than latent_dim = {latent_dim}")
    values, labels, counts = np.unique(u, return_inverse=True, return_counts=True)
    needed = n_segments_needed(latent_dim, learned_prior_mean)
    if len(values) < needed:
        k = 2 if learned_prior_mean else 1
        raise fail(
            f"u has {len(values)} distinct segments; identifiability needs n k + 1 = "
            f"{latent_dim} x {k} + 1 = {needed} (n = latent_dim = {latent_dim}, k = {k} sufficient "
            f"statistics per component, {'learned' if learned_prior_mean else 'zero'} prior mean)"
        )
    if counts.min() < 2:
        small = values[counts < 2]
        raise fail(f"segment(s) {small[:10].tolist()} have fewer than 2 points")
    return {"x": x, "u": u, "s": s, "values": values, "labels": labels.reshape(-1)}


def check_user_file(
    path: str | Path, *, latent_dim: int, learned_prior_mean: bool
) -> dict[str, Any]:
    """Check a user data file without building the Dataset (NumPy only, fast enough for parse
    time); raises ``identvae.io.ArtifactError`` naming the path and the problem (ValueError for
    a bad ``latent_dim``). Returns {"n_samples", "obs_dim", "n_segments", "has_sources"}.

    The file is an NPZ with ``x`` [N, d] real, ``u`` [N] integer-valued segment labels (any
    integers) and optionally ``s`` [N, n] true sources; other arrays are ignored. Refused: a
    missing or unreadable file, no ``x`` or ``u``, x not 2-D, u not 1-D or not integer-valued,
    lengths that differ, s of the wrong shape, NaN or inf in x or s, d < latent_dim, fewer
    distinct segments than ``n_segments_needed`` and a segment with fewer than 2 points."""
    arrays = _read_user_file(Path(path), latent_dim, learned_prior_mean)
    return {
        "n_samples": int(arrays["x"].shape[0]),
        "obs_dim": int(arrays["x"].shape[1]),
        "n_segments": len(arrays["values"]),
        "has_sources": arrays["s"] is not None,
    }


def load_user_file(path: str | Path, *, latent_dim: int, learned_prior_mean: bool) -> Dataset:
    """The checked user file (``check_user_file``) as a Dataset.

    labels: u remapped to 0..M-1 in sorted order of its values, the original values kept in
    ``mixing_params["segment_values"]`` [M] (int64). sources: ``s`` as float32, or, when the file
    has none, an array of shape [N, 0] (no ground truth, so no MCC can be computed; check
    ``config["has_sources"]`` or ``sources.shape[1]``). split all 0 (train: the iVAE protocol),
    mixing_name "user_file", seed 0, config {"path", "n_segments", "obs_dim", "has_sources"}."""
    from identvae.data.datasets import Dataset

    arrays = _read_user_file(Path(path), latent_dim, learned_prior_mean)
    x, s = arrays["x"], arrays["s"]
    n = len(x)
    sources = np.zeros((n, 0), dtype=np.float32) if s is None else s.astype(np.float32)
    return Dataset(
        sources=sources,
        observations=x.astype(np.float32),
        split=np.zeros(n, dtype=np.int8),
        mixing_name="user_file",
        mixing_params={"segment_values": arrays["values"].astype(np.int64)},
        config={
            "path": str(path),
            "n_segments": len(arrays["values"]),
            "obs_dim": int(x.shape[1]),
            "has_sources": s is not None,
        },
        seed=0,
        labels=arrays["labels"].astype(np.int64),
    )
