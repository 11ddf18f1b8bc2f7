"""The E2-E6 mixings: invertibility, Jacobians, IMA class membership, reproducibility, and
rebuilding from a stored dataset."""

import numpy as np
import pytest
import torch

from identvae.data import datasets
from identvae.data.mixings import (
    MIXINGS,
    draw_mixing,
    mixing_function,
    mixing_inverse,
    mixing_jacobian,
    mixing_options,
    moebius_params,
    smooth_leaky_relu,
    smooth_leaky_relu_inverse,
)
from identvae.metrics.ima import local_cima
from identvae.metrics.mixing import mixing_contrasts, segment_mixing_properties

# name -> (n, source distribution the experiments use)
CASES = {
    "moebius": (3, "uniform"),
    "moebius_linear": (3, "uniform"),
    "mlp_orthogonal": (3, "gaussian"),
    "triangular_mlp": (3, "gaussian"),
    "elementwise_orthogonal": (3, "gaussian"),
    "affine_coupling": (4, "gaussian"),
    "linear": (3, "gaussian"),
}


def sources(kind: str, n: int, size: int = 300, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "uniform":
        return torch.rand(size, n, generator=g, dtype=torch.float64) - 0.5
    return torch.randn(size, n, generator=g, dtype=torch.float64)


def drawn(name: str, seed: int = 0, **options):
    n, kind = CASES[name]
    params = draw_mixing(name, n, np.random.default_rng(seed), **options)
    return params, mixing_function(name, params), sources(kind, n)


def sigma_prime(x: torch.Tensor) -> torch.Tensor:
    """Derivative of 0.2 x + 0.8 log(1 + e^x), written out independently of the module."""
    return 0.2 + 0.8 / (1 + torch.exp(-x))


def test_every_registered_mixing_is_covered():
    assert set(MIXINGS) == set(CASES)


def test_smooth_leaky_relu_matches_its_definition_and_inverts_over_a_wide_range():
    x = torch.linspace(-60, 60, 2001, dtype=torch.float64)
    expected = 0.2 * x + 0.8 * torch.log1p(torch.exp(x))
    assert torch.allclose(smooth_leaky_relu(x), expected, rtol=1e-12, atol=1e-12)
    assert torch.allclose(smooth_leaky_relu_inverse(smooth_leaky_relu(x)), x, atol=1e-9)


@pytest.mark.parametrize("name", sorted(CASES))
def test_inverse_recovers_the_sources(name):
    params, f, s = drawn(name, seed=4)
    params["center"] = np.linspace(-1, 1, f(s).shape[-1])  # the inverse must undo the centring
    f = mixing_function(name, params)
    back = mixing_inverse(name, params)(f(s))
    assert torch.allclose(back, s, atol=1e-9)
    single = mixing_inverse(name, params)(f(s[0]))  # unbatched samples work too
    assert torch.allclose(single, s[0], atol=1e-9)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jacobian_matches_central_differences(name):
    _, f, s = drawn(name, seed=5)
    s = s[:20]
    jac = mixing_jacobian(f, s)
    n = s.shape[1]
    h = 1e-6
    for k in range(n):
        e = torch.zeros(n, dtype=torch.float64)
        e[k] = h
        fd = (f(s + e) - f(s - e)) / (2 * h)
        assert torch.allclose(jac[:, :, k], fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jacobian_is_full_rank(name):
    _, f, s = drawn(name, seed=6)
    sv = torch.linalg.svdvals(mixing_jacobian(f, s))
    assert (sv[:, -1] / sv[:, 0]).min() > 1e-4


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_seed_same_mixing_different_seed_different_mixing(name):
    a, _, _ = drawn(name, seed=11)
    b, _, _ = drawn(name, seed=11)
    c, _, _ = drawn(name, seed=12)
    assert a.keys() == b.keys() == c.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.allclose(a[k], c[k]) for k in a)


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_dataset_rebuilds_its_mixing_after_save_and_load(name, tmp_path):
    n, kind = CASES[name]
    config = {
        "mixing": name,
        "sources": kind,
        "n_sources": n,
        "n_samples": 500,
        "split": [0.7, 0.2, 0.1],
        "center": True,
    }
    path = tmp_path / "d.npz"
    datasets.save(datasets.generate(config, 3), path)
    data = datasets.load(path)
    s = torch.as_tensor(data.sources, dtype=torch.float64)
    x = mixing_function(data.mixing_name, data.mixing_params)(s).numpy()
    assert np.allclose(x, data.observations, atol=1e-5)
    assert np.abs(data.observations.mean(0)).max() < 1e-5
    g = mixing_inverse(data.mixing_name, data.mixing_params)
    back = g(torch.as_tensor(data.observations, dtype=torch.float64)).numpy()
    assert np.allclose(back, data.sources, atol=1e-3)


def test_unknown_options_are_rejected():
    with pytest.raises(ValueError, match="no option"):
        draw_mixing("moebius", 3, np.random.default_rng(0), n_layers=2)
    with pytest.raises(ValueError, match="linear_norm"):
        draw_mixing("moebius_linear", 3, np.random.default_rng(0), linear_norm="bogus")
    with pytest.raises(ValueError, match="unknown mixing"):
        draw_mixing("nope", 3, np.random.default_rng(0))
    assert mixing_options("moebius_linear") == {"linear_norm": "unit_det", "max_cond": 1e4}
    assert mixing_options("mlp_orthogonal") == {"n_layers": 3}


def test_mixing_options_reach_the_mixing_through_the_data_config():
    config = {
        "mixing": "moebius_linear",
        "sources": "uniform",
        "n_sources": 3,
        "n_samples": 100,
        "split": [0.7, 0.2, 0.1],
        "mixing_options": {"linear_norm": "unit_columns"},
    }
    L = datasets.generate(config, 2).mixing_params["L"]
    assert np.allclose(np.linalg.norm(L, axis=0), 1.0)
    deep = datasets.generate(
        config | {"mixing": "mlp_orthogonal", "mixing_options": {"n_layers": 5}}, 2
    )
    assert deep.mixing_params["W"].shape == (5, 3, 3)


# --- moebius_linear (E2) -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_moebius_linear_keeps_the_moebius_map_and_adds_a_unit_determinant_map(seed):
    params, _, _ = drawn("moebius_linear", seed)
    plain = moebius_params(3, np.random.default_rng(seed))
    assert np.array_equal(params["A"], plain["A"]) and np.array_equal(params["a"], plain["a"])
    L = params["L"]
    assert np.isclose(abs(np.linalg.det(L)), 1.0)
    assert (L > 0).all()  # a positive rescaling of a U[0, 1] matrix
    assert np.linalg.cond(L) <= 1e4


@pytest.mark.parametrize("seed", range(5))
def test_unit_columns_rescales_the_same_matrix(seed):
    det, _, _ = drawn("moebius_linear", seed)
    col, _, _ = drawn("moebius_linear", seed, linear_norm="unit_columns")
    assert np.allclose(np.linalg.norm(col["L"], axis=0), 1.0)
    assert np.allclose(col["L"], det["L"] / np.linalg.norm(det["L"], axis=0))


def test_max_cond_bounds_the_condition_number():
    for seed in range(20):
        params, _, _ = drawn("moebius_linear", seed, max_cond=5.0)
        assert np.linalg.cond(params["L"]) <= 5.0


def test_moebius_linear_jacobian_is_L_times_the_moebius_jacobian():
    params, f, s = drawn("moebius_linear", 7)
    A, a, L = (torch.as_tensor(params[k]) for k in ("A", "a", "L"))
    y = s - a
    r2 = (y * y).sum(-1)[:, None, None]
    eye = torch.eye(3, dtype=torch.float64)
    moebius_jac = A @ (eye / r2 - 2 * y[:, :, None] * y[:, None, :] / r2**2)
    assert torch.allclose(mixing_jacobian(f, s), L @ moebius_jac, atol=1e-9)


def test_moebius_linear_violates_ima_and_its_contrast_varies_over_space():
    params, f, s = drawn("moebius_linear", 8)
    cima = local_cima(mixing_jacobian(f, s))
    L = params["L"]
    cima_L = np.log(np.linalg.norm(L, axis=0)).sum() - np.log(abs(np.linalg.det(L)))
    assert cima_L > 0.1
    assert cima.min() > 1e-3
    # the Möbius Jacobian turns its columns from point to point, so the composite's contrast is
    # not the constant c_IMA(L)
    assert cima.std() > 1e-2
    assert (cima - cima_L).abs().max() > 1e-2


# --- mlp_orthogonal (E3) -----------------------------------------------------------------------


def test_mlp_orthogonal_layers_are_orthogonal_and_the_jacobian_is_their_product():
    params, f, s = drawn("mlp_orthogonal", 9)
    W = torch.as_tensor(params["W"])
    assert W.shape == (3, 3, 3)
    eye = torch.eye(3, dtype=torch.float64)
    assert torch.allclose(W @ W.transpose(-1, -2), eye.expand(3, 3, 3), atol=1e-12)
    assert local_cima(W).abs().max() < 1e-9
    # column convention: x = W3^T s3(W2^T s2(W1^T s1(s))) with pre-activations h_l
    h, expected = s, torch.eye(3, dtype=torch.float64).expand(len(s), 3, 3)
    for layer in W:
        expected = layer.T @ torch.diag_embed(sigma_prime(h)) @ expected
        h = (0.2 * h + 0.8 * torch.log1p(torch.exp(h))) @ layer
    assert torch.allclose(f(s), h, atol=1e-12)
    assert torch.allclose(mixing_jacobian(f, s), expected, atol=1e-10)


def test_one_orthogonal_layer_is_ima_class_but_three_are_not():
    _, f1, s = drawn("mlp_orthogonal", 10, n_layers=1)
    assert local_cima(mixing_jacobian(f1, s)).abs().max() < 1e-9
    _, f3, _ = drawn("mlp_orthogonal", 10)
    assert local_cima(mixing_jacobian(f3, s)).mean() > 1e-2


# --- triangular_mlp (E4, IMA-violating) --------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_triangular_mlp_has_triangular_jacobian_and_clearly_violates_ima(seed):
    params, f, s = drawn("triangular_mlp", seed)
    W = params["W"]
    assert np.array_equal(W, np.triu(W))
    assert np.abs(np.diagonal(W, axis1=1, axis2=2)).min() >= 0.5
    jac = mixing_jacobian(f, s)
    assert torch.equal(jac, torch.tril(jac))
    assert local_cima(jac).mean() > 0.2


def test_triangular_mlp_jacobian_matches_the_product_form():
    params, f, s = drawn("triangular_mlp", 1)
    expected = torch.eye(3, dtype=torch.float64).expand(len(s), 3, 3)
    h = s
    for layer in torch.as_tensor(params["W"]):
        expected = layer.T @ torch.diag_embed(sigma_prime(h)) @ expected
        h = (0.2 * h + 0.8 * torch.log1p(torch.exp(h))) @ layer
    assert torch.allclose(mixing_jacobian(f, s), expected, atol=1e-10)


# --- elementwise_orthogonal (E4, IMA class) ----------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_elementwise_orthogonal_has_orthogonal_columns_everywhere(seed):
    params, f, s = drawn("elementwise_orthogonal", seed)
    s = s * 3  # also far into the tails
    Q, b, c = (torch.as_tensor(params[k]) for k in ("Q", "b", "c"))
    expected = Q @ torch.diag_embed(b * sigma_prime(b * s + c))
    jac = mixing_jacobian(f, s)
    assert torch.allclose(jac, expected, atol=1e-12)
    assert local_cima(jac).abs().max() < 1e-9
    # but it is genuinely nonlinear: the column norms change over space
    norms = torch.linalg.vector_norm(jac, dim=-2)
    assert (norms.max(0).values / norms.min(0).values).min() > 1.5


# --- affine_coupling (E6) ----------------------------------------------------------------------


def numpy_coupling_flow(s: np.ndarray, p: dict) -> np.ndarray:
    """The documented architecture written out separately: two coupling layers on halves of 2,
    each x_b <- x_b * exp(net_s(x_a)) + net_t(x_a) with nets 2 -> 10 -> 2 (LeakyReLU 0.2), the
    coordinate order reversed between the layers."""

    def net(x, layer, which):
        h = x @ p["W1"][layer, which].T + p["b1"][layer, which]
        h = np.where(h > 0, h, 0.2 * h)
        return h @ p["W2"][layer, which].T + p["b2"][layer, which]

    h = s.copy()
    for layer in range(2):
        if layer == 1:
            h = h[:, ::-1]
        xa, xb = h[:, :2], h[:, 2:]
        h = np.concatenate([xa, xb * np.exp(net(xa, layer, 0)) + net(xa, layer, 1)], axis=1)
    return h


def test_affine_coupling_is_the_documented_architecture():
    params, f, s = drawn("affine_coupling", 2)
    assert params["W1"].shape == (2, 2, 10, 2) and params["W2"].shape == (2, 2, 2, 10)
    assert np.allclose(f(s).numpy(), numpy_coupling_flow(s.numpy(), params), atol=1e-12)
    # random init bounded like torch.nn.Linear's default: U(+-1/sqrt(fan_in))
    assert np.abs(params["W1"]).max() <= 1 / np.sqrt(2) and np.abs(params["W2"]).max() <= 0.5**0.5


def test_affine_coupling_transforms_every_coordinate():
    _, f, s = drawn("affine_coupling", 3)
    jac = mixing_jacobian(f, s)
    # no output is a copy of an input, and every output depends on more than one source
    assert ((f(s) - s).abs().mean(0) > 1e-2).all()
    assert ((jac.abs() > 1e-8).sum(-1) >= 2).all()
    _, f1, _ = drawn("affine_coupling", 3, n_layers=1)
    assert torch.equal(f1(s)[:, :2], s[:, :2])  # one layer alone leaves half untouched


def test_affine_coupling_log_det_is_the_sum_of_log_scales():
    params, f, s = drawn("affine_coupling", 4)
    p = {k: torch.as_tensor(v) for k, v in params.items()}

    def log_scale(xa, layer):
        h = torch.nn.functional.leaky_relu(xa @ p["W1"][layer, 0].T + p["b1"][layer, 0], 0.2)
        return (h @ p["W2"][layer, 0].T + p["b2"][layer, 0]).sum(-1)

    first = log_scale(s[:, :2], 0)
    # the second layer conditions on the first layer's transformed half (reversed), which it
    # leaves unchanged as outputs 0, 1; the reversal itself has |det| = 1
    second = log_scale(f(s)[:, :2], 1)
    logdet = torch.linalg.slogdet(mixing_jacobian(f, s)).logabsdet
    assert torch.allclose(logdet, first + second, atol=1e-10)


# --- mixing_contrasts --------------------------------------------------------------------------


def test_mixing_contrasts():
    params, f, s = drawn("moebius_linear", 5)
    out = mixing_contrasts("moebius_linear", params, s.numpy(), max_points=100)
    L = params["L"]
    expected_linear = np.log(np.linalg.norm(L, axis=0)).sum() - np.log(abs(np.linalg.det(L)))
    assert out["linear_cima"] == pytest.approx(expected_linear, rel=1e-9)
    sub = s[np.linspace(0, len(s) - 1, 100).round().astype(int)]
    assert out["mixing_cima"] == pytest.approx(float(local_cima(mixing_jacobian(f, sub)).mean()))
    full = mixing_contrasts("moebius_linear", params, s.numpy(), max_points=10_000)
    assert abs(full["mixing_cima"] - out["mixing_cima"]) < 0.1 * full["mixing_cima"]
    conformal = mixing_contrasts("moebius", drawn("moebius", 5)[0], s.numpy())
    assert conformal.keys() == {"mixing_cima"} and abs(conformal["mixing_cima"]) < 1e-9
    params, _, s = drawn("elementwise_orthogonal", 5)
    assert abs(mixing_contrasts("elementwise_orthogonal", params, s)["mixing_cima"]) < 1e-9
    params, _, s = drawn("triangular_mlp", 5)
    assert mixing_contrasts("triangular_mlp", params, s.float())["mixing_cima"] > 0.2


def test_segment_mixing_properties_known_answers():
    """A linear segment mixing of one repeated symmetric 2 x 2 matrix A with unit columns at
    cosine t: the Jacobian of s -> s A is A^T = A, so c_IMA of the matrix is the closed form
    -log |det A| = -log(1 - t^2) + log(1 + t^2); the whole (linear) mixing has the c_IMA of
    A^3 everywhere, and its linear part the condition number cond(A)^3 = ((1 + t) / (1 - t))^3."""
    t = 0.6
    A = np.array([[1.0, t], [t, 1.0]]) / np.sqrt(1 + t**2)
    params = {"A0": A, "A1": A, "A2": A}
    s = np.random.default_rng(0).standard_normal((50, 2))
    out = segment_mixing_properties(params, s, activation="none")
    assert out["matrix_cima"] == pytest.approx(-np.log(1 - t**2) + np.log(1 + t**2), rel=1e-9)
    assert out["mixing_cima"] == pytest.approx(float(local_cima(A @ A @ A)), rel=1e-9)
    assert out["matrix_cond"] == pytest.approx((1 + t) / (1 - t), rel=1e-9)
    assert out["linear_cond"] == pytest.approx(((1 + t) / (1 - t)) ** 3, rel=1e-9)
    orthogonal = {"A0": np.eye(2)[::-1].copy()}
    flat = segment_mixing_properties(orthogonal, s, activation="xtanh")
    assert flat["matrix_cima"] == pytest.approx(0.0, abs=1e-12) and flat["linear_cond"] == 1.0


def test_whitening_makes_a_linear_mixing_of_white_sources_orthogonal():
    """x = s A with white sources: after PCA whitening the composite linear map W^T A^T has
    orthogonal columns (C_IMA 0 up to the sample covariance's error), whatever A's own c_IMA."""
    A = np.array([[1.0, 0.9], [0.0, 0.3]])
    s = np.random.default_rng(1).standard_normal((200_000, 2))
    out = segment_mixing_properties({"A0": A}, s, activation="none", observations=s @ A)
    assert out["matrix_cima"] > 0.25
    assert out["whitened_cima"] == pytest.approx(0.0, abs=2e-3)
    assert "whitened_cima" not in segment_mixing_properties({"A0": A}, s, activation="none")
