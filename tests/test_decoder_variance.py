"""Decoder variance modes: a learned decoder precision (positive parametrisation
γ² = exp(log γ²)) against its closed-form gradient and maximiser, the MLE mode's reset of γ² at
each check, and both modes under the ensemble and resume invariants."""

import itertools
import math

import pytest
import torch
from helpers import e1_data
from test_ensemble import assert_same_run
from test_resume import Killed, assert_identical, count_epochs

from identvae.data import datasets
from identvae.models.vae import LOG_GAMMA2, VAEConfig, init_vae, neg_elbo
from identvae.train.ensemble import RunSpec, TrainConfig, train_ensemble

LEARNED = VAEConfig(obs_dim=3, latent_dim=3, prior="uniform", decoder_variance="learned")
MLE = VAEConfig(obs_dim=3, latent_dim=3, prior="uniform", decoder_variance="mle")
TRAIN = TrainConfig(lr=1e-2, batch_size=64, max_epochs=6, val_every=1, patience=10)
RUNS = [
    RunSpec("a", "seed=1", model_seed=11, gamma2=1e1),
    RunSpec("b", "seed=2", model_seed=12, gamma2=1e5, beta=2.0),
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
    initial = init_vae(LEARNED, gens, gamma2=[r.gamma2 for r in RUNS])[LOG_GAMMA2]
    torch.testing.assert_close(initial, torch.tensor([math.log(r.gamma2) for r in RUNS]))

    results = train_ensemble(LEARNED, TRAIN, RUNS, data, **OPTS)
    for spec, res in zip(RUNS, results, strict=True):
        learned = float(res.state[LOG_GAMMA2])
        assert abs(learned - math.log(spec.gamma2)) > 0.05
        assert res.best["decoder_gamma2"] == pytest.approx(math.exp(learned), rel=1e-6)
        assert res.best["decoder_gamma2"] != res.history[0]["decoder_gamma2"]


def test_a_fixed_gamma2_is_the_runs_gamma2_at_every_check(data):
    model = VAEConfig(obs_dim=3, latent_dim=3, prior="uniform")
    results = train_ensemble(model, TRAIN, RUNS, data, **OPTS)
    for spec, res in zip(RUNS, results, strict=True):
        assert all(row["decoder_gamma2"] == pytest.approx(spec.gamma2) for row in res.history)


def test_the_mle_mode_uses_the_previous_checks_gamma2_mle(data):
    train = TrainConfig(lr=1e-2, batch_size=64, max_epochs=6, val_every=2, patience=10)
    results = train_ensemble(MLE, train, RUNS, data, **OPTS)
    for spec, res in zip(RUNS, results, strict=True):
        assert [row["epoch"] for row in res.history] == [2, 4, 6]
        assert res.history[0]["decoder_gamma2"] == pytest.approx(spec.gamma2, rel=1e-7)
        for before, after in itertools.pairwise(res.history):
            assert after["decoder_gamma2"] == before["gamma2_mle"]
        assert res.history[1]["decoder_gamma2"] != pytest.approx(spec.gamma2, rel=1e-2)


# A run that diverges at epoch 1 and leaves the stacked tensors (its learned γ² and Adam state too).
WITH_BAD = [*RUNS, RunSpec("bad", "seed=1", model_seed=99, gamma2=3e38)]
# patience 1: in the MLE mode the runs stop at different checks
STOPPING = TrainConfig(lr=1e-2, batch_size=64, max_epochs=8, val_every=1, patience=1)


@pytest.mark.parametrize("model", [LEARNED, MLE], ids=["learned", "mle"])
def test_runs_trained_together_match_runs_trained_alone(data, model):
    together = train_ensemble(model, STOPPING, WITH_BAD, data, **OPTS)
    assert [r.status for r in together] == ["ok", "ok", "diverged"]
    for spec, result in zip(RUNS, together[:2], strict=True):
        alone = train_ensemble(model, STOPPING, [spec], data, **OPTS)[0]
        assert_same_run(result, alone)


@pytest.mark.parametrize("model", [LEARNED, MLE], ids=["learned", "mle"])
def test_a_killed_job_resumes_identical(data, model, tmp_path, monkeypatch):
    uninterrupted = train_ensemble(model, STOPPING, WITH_BAD, data, **OPTS)
    ckpt = tmp_path / "chunk000.pt"
    count_epochs(monkeypatch, kill_after=3)
    with pytest.raises(Killed):
        train_ensemble(
            model, STOPPING, WITH_BAD, data, **OPTS, checkpoint=ckpt, checkpoint_every_s=0
        )

    calls = count_epochs(monkeypatch)
    resumed = train_ensemble(
        model, STOPPING, WITH_BAD, data, **OPTS, checkpoint=ckpt, checkpoint_every_s=0
    )
    assert len(calls) == max(r.epochs_trained for r in uninterrupted) - 3
    assert [r.status for r in resumed] == ["ok", "ok", "diverged"]
    for res, full in zip(resumed[:2], uninterrupted[:2], strict=True):
        assert_identical(res, full)
