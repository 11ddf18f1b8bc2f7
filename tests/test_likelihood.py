"""ELBO-gap machinery (E4) against known answers: the linear-Gaussian model in closed form,
scipy's Gaussian densities, and the gamma -> inf limit ELBO* -> L_IMA on nonlinear mixings."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from identvae.data.mixings import draw_mixing, mixing_function, mixing_jacobian
from identvae.metrics.ima import local_cima
from identvae.metrics.likelihood import (
    elbo_estimate,
    gaussian_log_likelihood,
    importance_log_px,
    l_ima,
    laplace_scale_tril,
    linear_gaussian_elbo,
    linear_gaussian_log_marginal,
    linear_gaussian_mean_field,
    linear_gaussian_mean_field_gap,
    linear_gaussian_posterior,
    log_px_change_of_variables,
    log_weights,
    standard_normal_log_prob,
)

GAMMAS = [1e1, 1e2, 1e3, 1e4, 1e5]


def random_matrix(seed: int, d: int = 3, n: int = 3) -> torch.Tensor:
    return torch.as_tensor(np.random.default_rng(seed).normal(size=(d, n)))


def data(A: torch.Tensor, size: int = 6, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(size, A.shape[1], generator=g, dtype=torch.float64) @ A.T


def cima_by_formula(A: torch.Tensor) -> float:
    """sum_k log ||A_k|| - 1/2 log det(A^T A), straight from the definition."""
    A = A.numpy()
    return float(np.log(np.linalg.norm(A, axis=0)).sum() - 0.5 * np.log(np.linalg.det(A.T @ A)))


def orthogonal_columns(seed: int) -> torch.Tensor:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return torch.as_tensor(q @ np.diag([0.3, 1.0, 4.0]))


def linear(A: torch.Tensor):
    return lambda z: z @ A.T


def test_gaussian_log_likelihood_includes_the_normaliser():
    g = torch.Generator().manual_seed(1)
    x, x_hat = torch.randn(2, 5, 4, generator=g, dtype=torch.float64)
    for gamma2 in (0.5, 30.0):
        ref = torch.distributions.Normal(x_hat, gamma2**-0.5).log_prob(x).sum(-1)
        assert torch.allclose(gaussian_log_likelihood(x, x_hat, gamma2), ref)


def test_change_of_variables_density_of_a_linear_map():
    A = random_matrix(2)
    s = data(torch.eye(3, dtype=torch.float64), size=8)
    x = s @ A.T
    jac = A.expand(8, 3, 3)
    log_px = log_px_change_of_variables(standard_normal_log_prob(s), jac)
    ref = multivariate_normal(np.zeros(3), (A @ A.T).numpy()).logpdf(x.numpy())
    assert np.allclose(log_px.numpy(), ref)
    # L_IMA = log p0(s) - sum_k log ||A_k||
    expected = standard_normal_log_prob(s) - torch.log(torch.linalg.vector_norm(A, dim=0)).sum()
    assert torch.allclose(l_ima(standard_normal_log_prob(s), jac), expected)
    assert torch.allclose(log_px - l_ima(standard_normal_log_prob(s), jac), local_cima(jac))
    with pytest.raises(ValueError, match="square"):
        log_px_change_of_variables(torch.zeros(2), torch.zeros(2, 4, 3))


@pytest.mark.parametrize("gamma2", [0.3, 10.0, 1e4])
def test_linear_gaussian_log_marginal_matches_scipy(gamma2):
    A = random_matrix(3, d=4, n=2)
    x = data(A) + 0.1 * torch.randn(6, 4, generator=torch.Generator().manual_seed(5))
    cov = (A @ A.T).numpy() + np.eye(4) / gamma2
    ref = multivariate_normal(np.zeros(4), cov).logpdf(x.numpy())
    assert np.allclose(linear_gaussian_log_marginal(x, A, gamma2).numpy(), ref)


def test_exact_posterior_matches_bayes_rule_by_brute_force():
    A = random_matrix(4, d=2, n=2)
    x = torch.tensor([[0.7, -0.4]], dtype=torch.float64)
    gamma2 = 3.0
    mean, chol = linear_gaussian_posterior(x, A, gamma2)
    grid = torch.linspace(-6, 6, 801, dtype=torch.float64)
    z = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    logw = gaussian_log_likelihood(x, z @ A.T, gamma2) + standard_normal_log_prob(z)
    w = torch.softmax(logw, 0)
    m = (w[:, None] * z).sum(0)
    cov = (w[:, None, None] * (z - m)[:, :, None] * (z - m)[:, None, :]).sum(0)
    assert torch.allclose(mean[0], m, atol=1e-6)
    assert torch.allclose(chol @ chol.T, cov, atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_mean_field_gap_tends_to_cima(seed):
    A = random_matrix(seed)
    gaps = [float(linear_gaussian_mean_field_gap(A, g)) for g in GAMMAS + [1e9]]
    assert gaps[-1] == pytest.approx(cima_by_formula(A), rel=1e-6)
    assert all(g > 0 for g in gaps)
    # approaches the limit from below, ever closer: d gap / d gamma^2 >= 0 because the diagonal
    # of A^T A is majorised by its eigenvalues and lambda / (1 + t lambda) is concave
    errors = np.abs(np.array(gaps) - cima_by_formula(A))
    assert (np.diff(errors) < 0).all()


def test_mean_field_gap_is_zero_for_orthogonal_columns_at_every_gamma():
    A = orthogonal_columns(1)
    for g in [1e-2, *GAMMAS]:
        assert abs(float(linear_gaussian_mean_field_gap(A, g))) < 1e-10


@pytest.mark.parametrize("gamma2", [1.0, 1e2, 1e4])
def test_closed_form_gap_is_log_marginal_minus_optimal_elbo(gamma2):
    """The gap formula, the log marginal (d x d covariance) and the ELBO (n-dim posterior) are
    computed independently; they must agree for every x."""
    A = random_matrix(6)
    x = data(A, size=10)
    mu, logvar = linear_gaussian_mean_field(x, A, gamma2)
    gap = linear_gaussian_log_marginal(x, A, gamma2) - linear_gaussian_elbo(
        x, A, gamma2, mu, logvar
    )
    expected = linear_gaussian_mean_field_gap(A, gamma2)
    assert torch.allclose(gap, expected.expand(10), rtol=1e-7, atol=1e-8)


def test_optimal_mean_field_parameters_are_a_stationary_point_and_a_maximum():
    A = random_matrix(7)
    gamma2 = 50.0
    x = data(A, size=5)
    mu, logvar = linear_gaussian_mean_field(x, A, gamma2)
    mu = mu.clone().requires_grad_(True)
    logvar = logvar.expand_as(mu).clone().requires_grad_(True)
    elbo = linear_gaussian_elbo(x, A, gamma2, mu, logvar)
    grad_mu, grad_lv = torch.autograd.grad(elbo.sum(), [mu, logvar])
    assert grad_mu.abs().max() < 1e-8 and grad_lv.abs().max() < 1e-8
    with torch.no_grad():
        for delta in (-0.3, 0.3):
            lower = linear_gaussian_elbo(x, A, gamma2, mu, logvar + delta)
            assert (lower < elbo).all()
            lower = linear_gaussian_elbo(x, A, gamma2, mu + delta * 0.1, logvar)
            assert (lower < elbo).all()


@pytest.mark.parametrize("analytic_entropy", [True, False])
@pytest.mark.parametrize("gamma2", [10.0, 1e3])
def test_mc_elbo_matches_the_closed_form_within_mc_error(gamma2, analytic_entropy):
    A = random_matrix(8)
    x = data(A, size=6)
    mu, logvar = linear_gaussian_mean_field(x, A, gamma2)
    exact = linear_gaussian_elbo(x, A, gamma2, mu, logvar)
    est, se = elbo_estimate(
        x,
        linear(A),
        standard_normal_log_prob,
        gamma2,
        mu,
        logvar,
        n_samples=2000,
        generator=torch.Generator().manual_seed(0),
        analytic_entropy=analytic_entropy,
        chunk=300,
    )
    assert (se > 0).all() and (se < 0.1).all()
    assert ((est - exact).abs() < 5 * se).all()


def test_perturbed_variances_lower_the_mc_elbo():
    A = random_matrix(9)
    gamma2 = 100.0
    x = data(A, size=6)
    mu, logvar = linear_gaussian_mean_field(x, A, gamma2)

    def mc(lv):
        return elbo_estimate(
            x,
            linear(A),
            standard_normal_log_prob,
            gamma2,
            mu,
            lv,
            n_samples=1000,
            generator=torch.Generator().manual_seed(1),
        )[0]

    best = mc(logvar)
    for delta in (-1.0, 1.0):
        assert (mc(logvar + delta) < best).all()


def test_importance_sampling_with_the_exact_posterior_has_zero_variance():
    A = random_matrix(10)
    gamma2 = 1e3
    x = data(A, size=5)
    mean, chol = linear_gaussian_posterior(x, A, gamma2)
    g = torch.Generator().manual_seed(2)
    w = log_weights(x, linear(A), standard_normal_log_prob, gamma2, mean, scale_tril=chol,
                    n_samples=50, generator=g)  # fmt: skip
    exact = linear_gaussian_log_marginal(x, A, gamma2)
    assert torch.allclose(w, exact.expand(50, 5), atol=1e-8)
    est = importance_log_px(
        x, linear(A), standard_normal_log_prob, gamma2, mean, scale_tril=chol, n_samples=20
    )
    assert torch.allclose(est, exact, atol=1e-8)


def test_importance_sampling_with_the_mean_field_proposal_beats_the_elbo():
    """Mildly non-orthogonal A: the mean-field proposal is near the posterior, so the estimate
    is close to log p and much closer than ELBO* (which sits the gap below)."""
    A = orthogonal_columns(2) + 0.2 * random_matrix(11)
    gamma2 = 100.0
    x = data(A, size=5)
    mu, logvar = linear_gaussian_mean_field(x, A, gamma2)
    exact = linear_gaussian_log_marginal(x, A, gamma2)
    est = importance_log_px(
        x,
        linear(A),
        standard_normal_log_prob,
        gamma2,
        mu,
        logvar,
        n_samples=4000,
        generator=torch.Generator().manual_seed(3),
        chunk=512,
    )
    gap = float(linear_gaussian_mean_field_gap(A, gamma2))
    assert gap > 0.02
    assert ((est - exact).abs() < 0.25 * gap).all()


def test_either_logvar_or_scale_tril():
    x = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="exactly one"):
        log_weights(x, lambda z: z, standard_normal_log_prob, 1.0, x)
    with pytest.raises(ValueError, match="exactly one"):
        log_weights(x, lambda z: z, standard_normal_log_prob, 1.0, x, x, torch.eye(3))


def test_laplace_scale_tril_is_the_cholesky_factor_of_the_laplace_covariance():
    jac = torch.as_tensor(np.random.default_rng(12).normal(size=(4, 5, 3)))
    chol = laplace_scale_tril(jac, 30.0, prior_curvature=0.5)
    P = 0.5 * torch.eye(3, dtype=torch.float64) + 30.0 * jac.transpose(-1, -2) @ jac
    assert torch.equal(chol, torch.tril(chol)) and (chol.diagonal(dim1=-2, dim2=-1) > 0).all()
    assert torch.allclose(chol @ chol.transpose(-1, -2), torch.linalg.inv(P), atol=1e-12)


@pytest.mark.parametrize(
    ("name", "violates"), [("triangular_mlp", True), ("elementwise_orthogonal", False)]
)
def test_nonlinear_elbo_gap_tends_to_cima_at_large_gamma(name, violates):
    """At gamma^2 = 1e6 with q at the self-consistent optimum (mean s, variances
    1 / (1 + gamma^2 ||J_k||^2)), the MC ELBO approaches L_IMA = log p_f - c_IMA, and a
    full-covariance importance estimate approaches the noiseless density log p_f."""
    gamma2 = 1e6
    params = draw_mixing(name, 3, np.random.default_rng(0))
    f = mixing_function(name, params)
    s = torch.randn(8, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    x = f(s)
    jac = mixing_jacobian(f, s)
    log_p0 = standard_normal_log_prob(s)
    log_pf = log_px_change_of_variables(log_p0, jac)
    target = l_ima(log_p0, jac)
    logvar = -torch.log(1 + gamma2 * (jac * jac).sum(-2))
    elbo, se = elbo_estimate(
        x, f, standard_normal_log_prob, gamma2, s, logvar, n_samples=4000,
        generator=torch.Generator().manual_seed(5), chunk=1000,
    )  # fmt: skip
    assert (se < 0.05).all()
    assert ((elbo - target).abs() < 0.01 + 5 * se).all()
    gap = log_pf - elbo
    cima = local_cima(jac)
    assert ((gap - cima).abs() < 0.01 + 5 * se).all()
    assert abs(float((gap - cima).mean())) < 0.01 + 5 * float(se.square().mean().sqrt()) / 8**0.5
    if violates:
        assert (cima > 0.5).all()
    else:
        assert (gap.abs() < 0.01 + 5 * se).all()
    log_px = importance_log_px(
        x, f, standard_normal_log_prob, gamma2, s,
        scale_tril=laplace_scale_tril(jac, gamma2, 1.0), n_samples=500,
        generator=torch.Generator().manual_seed(6),
    )  # fmt: skip
    assert ((log_px - log_pf).abs() < 0.01).all()


def test_elbo_estimate_handles_a_broadcast_logvar_and_float64_inputs():
    A = random_matrix(13)
    x = data(A, size=4)
    mu, logvar = linear_gaussian_mean_field(x, A, 10.0)
    assert logvar.shape == (3,)
    est, se = elbo_estimate(x, linear(A), standard_normal_log_prob, 10.0, mu, logvar, 10)
    assert est.shape == se.shape == (4,) and est.dtype == torch.float64
    assert math.isfinite(float(est.sum()))
