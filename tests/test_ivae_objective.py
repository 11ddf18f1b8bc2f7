"""The iVAE family's objective: the weighted decomposition is the single-sample negative ELBO at
weights (1, 1, 1, 1), the minibatch-weighted estimator equals a brute-force loop, the analytic KL
equals torch's, the method reports its last check, and the plain ELBO of a check is right."""

import math

import numpy as np
import pytest
import torch
from ivae_cases import IVAE_TRAIN, ivae_data, ivae_method, weights
from torch.distributions import Normal, kl_divergence

from identvae.methods.base import Part
from identvae.methods.ivae import DECODER_VARIANCE, IVAEMethod
from identvae.models import ivae
from identvae.models.ivae import IVAEConfig
from identvae.train.ensemble import RunSpec, train_ensemble

R, B, N_DATA = 3, 7, 1000


def case(prior="conditional", prior_mean="learned", decoder="gaussian"):
    cfg = IVAEConfig(
        obs_dim=4,
        latent_dim=3,
        n_segments=5,
        prior=prior,
        prior_mean=prior_mean,
        hidden=8,
        decoder=decoder,
    )
    gens = [torch.Generator().manual_seed(s) for s in range(R)]
    params = ivae.init_ivae(cfg, gens)
    g = torch.Generator().manual_seed(99)
    x = torch.randn(R, B, 4, generator=g)
    if decoder == "bernoulli":
        x = (x > 0).float()
    labels = torch.randint(0, 5, (R, B), generator=g)
    eps = torch.randn(R, B, 3, generator=g)
    return cfg, params, x, labels, eps


def brute_neg_elbo(cfg, params, x, labels, eps):
    """-mean_j [log p(x|z) + log p(z|u) - log q(z|x,u)] with torch.distributions, per run."""
    u = torch.nn.functional.one_hot(labels, cfg.n_segments).float()
    mean, logvar = ivae.encode(cfg, params, x, u)
    q = Normal(mean, torch.exp(0.5 * logvar))
    z = mean + torch.exp(0.5 * logvar) * eps
    p_mean, p_logvar = ivae.prior(cfg, params, u)
    p = Normal(p_mean.expand_as(z), torch.exp(0.5 * p_logvar).expand_as(z))
    out = ivae.decode(cfg, params, z)
    if cfg.decoder == "bernoulli":
        log_px = torch.distributions.Bernoulli(logits=out).log_prob(x).sum(-1)
    else:
        log_px = Normal(out, math.sqrt(cfg.decoder_variance)).log_prob(x).sum(-1)
    return -(log_px + p.log_prob(z).sum(-1) - q.log_prob(z).sum(-1)).mean(-1)


@pytest.mark.parametrize(
    "kind",
    [
        ("conditional", "learned", "gaussian"),
        ("conditional", "zero", "gaussian"),
        ("standard", "zero", "gaussian"),
        ("conditional", "zero", "bernoulli"),
    ],
)
def test_unit_weights_give_the_single_sample_negative_elbo(kind):
    cfg, params, x, labels, eps = case(*kind)
    t = ivae.terms(cfg, params, x, labels, eps, N_DATA)
    loss = ivae.weighted_loss(t, torch.ones(R, 4))
    torch.testing.assert_close(loss, brute_neg_elbo(cfg, params, x, labels, eps))


def test_other_weights_differ_from_the_elbo():
    cfg, params, x, labels, eps = case()
    t = ivae.terms(cfg, params, x, labels, eps, N_DATA)
    official = ivae.weighted_loss(t, torch.tensor([[100.0, 1.0, 0.0, 10.0]] * R))
    assert not torch.allclose(official, brute_neg_elbo(cfg, params, x, labels, eps))


def test_minibatch_weighted_marginals_equal_a_brute_force_loop():
    cfg, params, x, labels, eps = case()
    u = torch.nn.functional.one_hot(labels, 5).float()
    mean, logvar = ivae.encode(cfg, params, x, u)
    z = mean + torch.exp(0.5 * logvar) * eps
    joint, marginals = ivae.mws_log_marginals(z, mean, logvar, N_DATA)
    std = torch.exp(0.5 * logvar)
    for r in range(R):
        for j in range(B):
            dens = [Normal(mean[r, k], std[r, k]).log_prob(z[r, j]) for k in range(B)]
            dens = torch.stack(dens)  # [k, n]
            expect_joint = torch.logsumexp(dens.sum(-1), 0) - math.log(B * N_DATA)
            expect_marg = sum(
                torch.logsumexp(dens[:, i], 0) - math.log(B * N_DATA) for i in range(3)
            )
            torch.testing.assert_close(joint[r, j], expect_joint)
            torch.testing.assert_close(marginals[r, j], expect_marg)


def test_the_analytic_kl_equals_torch():
    g = torch.Generator().manual_seed(3)
    m, lv, pm, plv = (torch.randn(2, 5, 3, generator=g) for _ in range(4))
    expect = kl_divergence(Normal(m, torch.exp(0.5 * lv)), Normal(pm, torch.exp(0.5 * plv))).sum(-1)
    torch.testing.assert_close(ivae.kl_to_prior(m, lv, pm, plv), expect)


def test_the_standard_prior_ignores_the_labels():
    cfg, params, x, labels, eps = case(prior="standard")
    t1 = ivae.terms(cfg, params, x, labels, eps, N_DATA)
    t2 = ivae.terms(cfg, params, x, (labels + 1) % 5, eps, N_DATA)
    torch.testing.assert_close(t1.log_px, t2.log_px)
    cfg_c, params_c, *_ = case(prior="conditional")
    t3 = ivae.terms(cfg_c, params_c, x, labels, eps, N_DATA)
    t4 = ivae.terms(cfg_c, params_c, x, (labels + 1) % 5, eps, N_DATA)
    assert not torch.allclose(t3.log_pz, t4.log_pz)


def test_the_reported_check_is_the_last_and_no_run_stops_early():
    data = ivae_data()
    runs = [RunSpec("a", "seed=1", 1, weights(100, 1, 0, 10), lr=1e-2)]
    result = train_ensemble(ivae_method(), IVAE_TRAIN, runs, data, progress=False)[0]
    assert not result.stopped_early
    assert result.epochs_trained == IVAE_TRAIN.max_epochs
    assert result.best["epoch"] == IVAE_TRAIN.max_epochs
    assert [row["epoch"] for row in result.history] == list(range(1, 7))
    assert all("epoch_lr" in row for row in result.history)  # the run's scheduled rate


def test_the_check_elbo_is_the_mean_over_points_of_a_brute_force_elbo():
    method = ivae_method()
    data = ivae_data()["seed=1"]
    gens = [torch.Generator().manual_seed(0)]
    params = ivae.init_ivae(method.model, gens)
    x = torch.as_tensor(data.observations)[None]
    labels = torch.as_tensor(data.labels)[None]
    part = Part(x, torch.as_tensor(data.sources)[None], labels)
    row = method.evaluate(
        params, part, torch.zeros(1, dtype=torch.long), {}, [torch.Generator().manual_seed(5)]
    )[0]
    # the same posterior sample the check draws (its generator, one draw for all points)
    eps = torch.randn(x.shape[1], 2, generator=torch.Generator().manual_seed(5))[None]
    u = torch.nn.functional.one_hot(labels, 5).float()
    mean, logvar = ivae.encode(method.model, params, x, u)
    z = mean + torch.exp(0.5 * logvar) * eps
    p_mean, p_logvar = ivae.prior(method.model, params, u)
    log_px = Normal(ivae.decode(method.model, params, z), math.sqrt(0.1)).log_prob(x).sum(-1)
    kl = kl_divergence(
        Normal(mean, torch.exp(0.5 * logvar)),
        Normal(p_mean.expand_as(mean), torch.exp(0.5 * p_logvar).expand_as(mean)),
    ).sum(-1)
    assert row["neg_elbo"] == pytest.approx(float((kl - log_px).mean()), rel=1e-5)
    assert 0.0 <= row["mcc"] <= 1.0 and 0.0 <= row["mcc_mean"] <= 1.0


def check_row(method, params, data, settings):
    x = torch.as_tensor(data.observations)[None]
    part = Part(x, torch.as_tensor(data.sources)[None], torch.as_tensor(data.labels)[None])
    generators = [torch.Generator().manual_seed(5)]
    return method.evaluate(params, part, torch.zeros(1, dtype=torch.long), settings, generators)[0]


def test_a_whitened_run_reports_the_elbo_of_x_with_its_own_decoder_variance():
    """A run that sees y = (x - shift) W reports -ELBO(y) - log |det W| (the density of x),
    with its own decoder variance: a brute-force ELBO of y under that variance."""
    method = ivae_method()
    data = ivae_data()["seed=1"]
    params = ivae.init_ivae(method.model, [torch.Generator().manual_seed(0)])
    shift, matrix = torch.tensor([[[0.5, -1.0]]]), torch.tensor([[[2.0, 0.3], [0.0, 0.5]]])
    whitened = params | {ivae.WHITEN_SHIFT: shift, ivae.WHITEN_MATRIX: matrix}
    variance = 0.3
    row = check_row(method, whitened, data, {DECODER_VARIANCE: torch.tensor([variance])})
    y = (torch.as_tensor(data.observations)[None] - shift) @ matrix
    eps = torch.randn(y.shape[1], 2, generator=torch.Generator().manual_seed(5))[None]
    u = torch.nn.functional.one_hot(torch.as_tensor(data.labels)[None], 5).float()
    mean, logvar = ivae.encode(method.model, params, y, u)
    z = mean + torch.exp(0.5 * logvar) * eps
    p_mean, p_logvar = ivae.prior(method.model, params, u)
    log_py = Normal(ivae.decode(method.model, params, z), math.sqrt(variance)).log_prob(y).sum(-1)
    kl = kl_divergence(
        Normal(mean, torch.exp(0.5 * logvar)),
        Normal(p_mean.expand_as(mean), torch.exp(0.5 * p_logvar).expand_as(mean)),
    ).sum(-1)
    log_det = math.log(2.0 * 0.5)  # det W = 1: no correction, so try another W too
    assert row["neg_elbo"] == pytest.approx(float((kl - log_py).mean()) - log_det, rel=1e-5)
    scaled = whitened | {ivae.WHITEN_MATRIX: 3.0 * matrix}
    row3 = check_row(method, scaled, data, {DECODER_VARIANCE: torch.tensor([variance])})
    y3 = 3.0 * y
    mean3, logvar3 = ivae.encode(method.model, params, y3, u)
    z3 = mean3 + torch.exp(0.5 * logvar3) * eps
    log_py3 = Normal(ivae.decode(method.model, params, z3), math.sqrt(variance)).log_prob(y3)
    kl3 = kl_divergence(
        Normal(mean3, torch.exp(0.5 * logvar3)),
        Normal(p_mean.expand_as(mean3), torch.exp(0.5 * p_logvar).expand_as(mean3)),
    ).sum(-1)
    expected = float((kl3 - log_py3.sum(-1)).mean()) - 2 * math.log(3.0)  # |det 3W| = 9
    assert row3["neg_elbo"] == pytest.approx(expected, rel=1e-5)


def test_whitening_gives_each_run_identity_covariance_and_leaves_others_alone():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 3)) @ np.array([[3.0, 1.0, 0.0], [0.0, 0.2, 0.5], [0, 0, 1]])
    x += np.array([5.0, -2.0, 1.0])
    params = ivae.whitening([x, x], [True, False])
    y = ivae.observe(params, torch.tensor(np.stack([x, x]), dtype=torch.float32)).double()
    assert torch.allclose(y[0].mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(torch.cov(y[0].T), torch.eye(3, dtype=torch.float64), atol=1e-4)
    assert torch.allclose(y[1], torch.tensor(x), atol=1e-5)  # not whitened: x itself
    with pytest.raises(ValueError, match="singular"):
        ivae.whitening([np.c_[x[:, :2], x[:, :1]]], [True])


def test_rows_whose_weights_cancel_the_marginals_skip_them_with_the_same_loss():
    cfg, params, x, labels, eps = case()
    w = torch.tensor([[100.0, 1.0, 0.0, 10.0], [1000.0, 1.0, 1.0, 1.0], [500.0, 5.0, 5.0, 5.0]])
    rows = ivae.needs_marginals(w)
    assert rows.tolist() == [0]
    full = ivae.weighted_loss(ivae.terms(cfg, params, x, labels, eps, N_DATA), w)
    skipped = ivae.weighted_loss(ivae.terms(cfg, params, x, labels, eps, N_DATA, rows), w)
    torch.testing.assert_close(skipped, full)
    # the skipped rows' q̂ terms are 0 in the returned pieces, the needed row's are not
    t = ivae.terms(cfg, params, x, labels, eps, N_DATA, rows)
    assert (t.log_qz_hat[1:] == 0).all() and (t.log_qz_hat[0] != 0).all()


def matches_torch_logsumexp(x: torch.Tensor) -> bool:
    """Our floored log-sum-exp and its gradient equal torch.logsumexp's to float32 round-off."""
    x = x.clone().requires_grad_()
    ours, theirs = ivae.logsumexp(x), torch.logsumexp(x, dim=-1)
    (g_ours,) = torch.autograd.grad(ours.sum(), x)
    (g_theirs,) = torch.autograd.grad(theirs.sum(), x)
    scale = x.detach().abs().max()
    return torch.allclose(ours, theirs, rtol=1e-6, atol=1e-6 * scale) and torch.allclose(
        g_ours, g_theirs, atol=1e-6
    )


@pytest.mark.parametrize("scale", [1.0, 1e3, 1e5])
def test_floored_logsumexp_equals_torch_with_its_gradient(scale):
    """Terms far below the largest are floored (they cannot change a float32 sum), even when
    most lie beyond exp's range."""
    x = scale * torch.randn(4, 6, 64, generator=torch.Generator().manual_seed(0))
    assert matches_torch_logsumexp(x)


def test_the_logsumexp_check_catches_a_floor_that_changes_the_sum(monkeypatch):
    monkeypatch.setattr(ivae, "LSE_FLOOR", -2.0)
    assert not matches_torch_logsumexp(torch.tensor([[0.0, -5.0, -5.0, -1.0]]))


def test_pairwise_log_sum_exps_backward_written_out_is_the_gradient():
    """The estimator's hand-written backward against finite differences (float64)."""
    g = torch.Generator().manual_seed(3)
    z, mean = (torch.randn(2, 6, 3, generator=g, dtype=torch.float64) for _ in range(2))
    logvar = 0.5 * torch.randn(2, 6, 3, generator=g, dtype=torch.float64)
    inputs = tuple(t.requires_grad_() for t in (z, mean, logvar))
    assert torch.autograd.gradcheck(ivae._PairwiseLogSumExps.apply, inputs)


def test_the_check_prior_per_segment_equals_the_prior_of_each_point():
    for prior_mean in ("learned", "zero"):
        cfg, params, _, labels, _ = case(prior_mean=prior_mean)
        by_point = ivae.prior(cfg, params, ivae.one_hot(cfg, labels))
        by_segment = ivae.prior_of_labels(cfg, params, labels)
        for a, b in zip(by_point, by_segment, strict=True):
            assert torch.allclose(a.expand_as(b), b, atol=1e-6)
    cfg, params, _, labels, _ = case(prior="standard")
    assert all(torch.all(t == 0) for t in ivae.prior_of_labels(cfg, params, labels))


def test_checks_over_training_read_a_subsample_and_the_reported_one_every_point():
    """With check_points, a check reads that many evenly spaced points; the reported check's
    metrics come again from every point (the same metrics the method computes on the full
    part, from the same evaluation generator state)."""
    data = ivae_data()["seed=1"]
    method = IVAEMethod(ivae_method().model, dataset_size=200, check_points=50)
    params = ivae.init_ivae(method.model, [torch.Generator().manual_seed(0)])
    x = torch.as_tensor(data.observations)[None]
    part = Part(x, torch.as_tensor(data.sources)[None], torch.as_tensor(data.labels)[None])
    which = torch.zeros(1, dtype=torch.long)

    def gens():
        return [torch.Generator().manual_seed(5)]

    keep = torch.linspace(0, part.size - 1, 50).round().long()
    sub = Part(part.x[:, keep], part.sources[:, keep], part.labels[:, keep])
    assert method.evaluate(params, part, which, {}, gens()) == method.metrics(
        params, sub, which, {}, gens()
    )
    full = method.metrics(params, part, which, {}, gens())
    assert method.selected_check_metrics(params, part, which, {}, gens()) == full
    assert full != method.metrics(params, sub, which, {}, gens())
    plain = ivae_method()  # without check_points: every check reads every point, nothing again
    assert plain.evaluate(params, part, which, {}, gens()) == full
    assert plain.selected_check_metrics(params, part, which, {}, gens()) == [{}]
