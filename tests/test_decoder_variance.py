"""Decoder variance modes: a learned decoder precision (positive parametrisation
γ² = exp(log γ²)) against its closed-form gradient and maximiser, and the MLE mode's reset of γ²
at each check. Both modes are under the ensemble and resume invariants in tests/test_ensemble.py
and tests/test_resume.py."""

import itertools
import math

import pytest
import torch
from helpers import e1_data, vae_run, vae_training

from identvae.data import datasets
from identvae.models.vae import LOG_GAMMA2, VAEConfig, init_vae, neg_elbo
from identvae.train.ensemble import train_ensemble

LEARNED = VAEConfig(obs_dim=3, latent_dim=3, prior="uniform", decoder_variance="learned")
MLE = VAEConfig(obs_dim=3, latent_dim=3, prior="uniform", decoder_variance="mle")
TRAIN_SETTINGS = {"lr": 1e-2, "batch_size": 64, "max_epochs": 6, "val_every": 1, "patience": 10}
RUNS = [
    vae_run("a", "seed=1", model_seed=11, gamma2=1e1),
    vae_run("b", "seed=2", model_seed=12, gamma2=1e5, beta=2.0),
]
OPTS = {"device": "cpu", "progress": False}


@pytest.fixture(scope="module")
def data():
    cfg = e1_data(600)
    return {"seed=1": datasets.generate(cfg, 1), "seed=2": datasets.generate(cfg, 2)}


def test_config_rejects_unknown_modes_and_a_free_gamma2_with_the_true_mixing():
    with pytest.raises(ValueError, match="unknown decoder_variance 'bogus'"):
        VAEConfig(obs_dim=3, latent_dim=3, decoder_variance="bogus")
    for mode in ("learned", "mle"):
        with pytest.raises(ValueError, match=f"true_mixing.*decoder_variance '{mode}'"):
            VAEConfig(
                obs_dim=3,
                latent_dim=3,
                prior="gaussian",
                decoder="true_mixing",
                mixing="linear",
                decoder_variance=mode,
            )
    with pytest.raises(ValueError, match="one initial gamma2 per run"):
        init_vae(LEARNED, [torch.Generator().manual_seed(1)])


def learned_setup(gamma2: list[float]):
    """Double-precision parameters of len(gamma2) learned-variance runs, data and noise."""
    gens = [torch.Generator().manual_seed(s) for s in range(len(gamma2))]
    params = {k: v.double() for k, v in init_vae(LEARNED, gens, gamma2=gamma2).items()}
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(len(gamma2), 256, 3, generator=gen, dtype=torch.float64) - 0.5
    eps = torch.randn(len(gamma2), 256, 3, generator=gen, dtype=torch.float64)
    return params, x, eps


def test_the_gamma2_gradient_and_maximiser_match_the_closed_forms():
    # -log_lik = 0.5 γ² ‖x − f(z)‖² + (d/2) log(2π/γ²), so per sample
    # d/d(log γ²) = 0.5 γ² ‖x − f(z)‖² − d/2, zero at γ² = d / mean ‖x − f(z)‖².
    gamma2 = [1.0, 1e4]
    params, x, eps = learned_setup(gamma2)
    torch.testing.assert_close(params[LOG_GAMMA2], torch.tensor(gamma2).double().log())
    log_g2 = params[LOG_GAMMA2].clone().requires_grad_()
    ones = torch.ones(2, dtype=torch.float64)

    def objective() -> tuple[torch.Tensor, torch.Tensor]:
        loss, parts = neg_elbo(LEARNED, params | {LOG_GAMMA2: log_g2}, x, eps, ones, ones)
        return loss.sum(), parts["sq_err"].mean(-1)

    loss, sq_err = objective()
    (grad,) = torch.autograd.grad(loss, log_g2)
    d = x.shape[-1]
    torch.testing.assert_close(grad, 0.5 * log_g2.detach().exp() * sq_err - d / 2)

    # Everything but log γ² frozen (and the noise fixed): optimising it reaches the maximiser.
    tight = {"tolerance_grad": 1e-12, "tolerance_change": 1e-15}
    opt = torch.optim.LBFGS([log_g2], max_iter=200, line_search_fn="strong_wolfe", **tight)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective()[0]
        loss.backward()
        return loss

    opt.step(closure)
    torch.testing.assert_close(log_g2.detach().exp(), d / sq_err, rtol=1e-6, atol=0)
    assert not torch.allclose(d / sq_err, torch.tensor(gamma2).double(), rtol=0.5)


def test_a_learned_gamma2_starts_at_the_run_gamma2_moves_and_is_saved(data):
    gens = [torch.Generator().manual_seed(s) for s in (1, 2)]
    gamma2 = [r.settings["gamma2"] for r in RUNS]
    initial = init_vae(LEARNED, gens, gamma2=gamma2)[LOG_GAMMA2]
    torch.testing.assert_close(initial, torch.tensor([math.log(g) for g in gamma2]))

    results = train_ensemble(*vae_training(LEARNED, **TRAIN_SETTINGS), RUNS, data, **OPTS)
    for g2, res in zip(gamma2, results, strict=True):
        learned = float(res.state[LOG_GAMMA2])
        assert abs(learned - math.log(g2)) > 0.05
        assert res.best["decoder_gamma2"] == pytest.approx(math.exp(learned), rel=1e-6)
        assert res.best["decoder_gamma2"] != res.history[0]["decoder_gamma2"]


def test_a_fixed_gamma2_is_the_runs_gamma2_at_every_check(data):
    model = VAEConfig(obs_dim=3, latent_dim=3, prior="uniform")
    results = train_ensemble(*vae_training(model, **TRAIN_SETTINGS), RUNS, data, **OPTS)
    for spec, res in zip(RUNS, results, strict=True):
        g2 = spec.settings["gamma2"]
        assert all(row["decoder_gamma2"] == pytest.approx(g2) for row in res.history)


def test_the_mle_mode_uses_the_previous_checks_gamma2_mle(data):
    method, train = vae_training(MLE, **(TRAIN_SETTINGS | {"val_every": 2}))
    results = train_ensemble(method, train, RUNS, data, **OPTS)
    for spec, res in zip(RUNS, results, strict=True):
        g2 = spec.settings["gamma2"]
        assert [row["epoch"] for row in res.history] == [2, 4, 6]
        assert res.history[0]["decoder_gamma2"] == pytest.approx(g2, rel=1e-7)
        for before, after in itertools.pairwise(res.history):
            assert after["decoder_gamma2"] == before["gamma2_mle"]
        assert res.history[1]["decoder_gamma2"] != pytest.approx(g2, rel=1e-2)
