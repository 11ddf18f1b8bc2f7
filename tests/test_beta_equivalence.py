"""β-VAE ↔ decoder precision (docs/papers/embrace-the-gap.md, E6, from the paper's discussion): the
β-VAE objective with
decoder precision γ² equals β times the plain VAE objective with precision γ²/β, plus a constant
that no parameter changes. Same gradients up to the factor β, hence the same optima; and Adam,
invariant to a constant scale of the loss, follows (almost exactly) the same path."""

import math

import pytest
import torch
from helpers import e1_data, vae_run, vae_training

from identvae.data import datasets
from identvae.models.vae import VAEConfig, init_vae, neg_elbo
from identvae.train.ensemble import train_ensemble

CFG = VAEConfig(obs_dim=3, latent_dim=3, prior="uniform")


def objective(params, x, eps, gamma2, beta):
    as64 = {"dtype": torch.float64}
    loss, _ = neg_elbo(
        CFG, params, x, eps, torch.tensor([gamma2], **as64), torch.tensor([beta], **as64)
    )
    return loss.sum()


@pytest.mark.parametrize("gamma2, beta", [(1e3, 4.0), (50.0, 0.25)])
def test_the_beta_objective_is_a_scaled_and_shifted_plain_objective(gamma2, beta):
    gen = torch.Generator().manual_seed(0)
    params = {k: v.double().requires_grad_() for k, v in init_vae(CFG, [gen]).items()}
    x = torch.rand(1, 256, 3, generator=gen, dtype=torch.float64) - 0.5
    eps = torch.randn(1, 256, 3, generator=gen, dtype=torch.float64)

    with_beta = objective(params, x, eps, gamma2, beta)
    plain = objective(params, x, eps, gamma2 / beta, 1.0)
    # the constant comes from the Gaussian normalisers: (d/2) log(2π/γ²) − β (d/2) log(2πβ/γ²)
    d = x.shape[-1]
    constant = (
        0.5 * d * (math.log(2 * math.pi / gamma2) - beta * math.log(2 * math.pi * beta / gamma2))
    )
    assert with_beta.item() == pytest.approx(beta * plain.item() + constant, rel=1e-10)

    g_beta = torch.autograd.grad(with_beta, list(params.values()))
    g_plain = torch.autograd.grad(plain, list(params.values()))
    for a, b in zip(g_beta, g_plain, strict=True):
        torch.testing.assert_close(a, beta * b, rtol=1e-9, atol=1e-12)

    # and the equivalence is specific: another precision gives other gradients
    other = objective(params, x, eps, gamma2, 1.0)
    g_other = torch.autograd.grad(other, list(params.values()))
    assert not all(torch.allclose(a, b) for a, b in zip(g_beta, g_other, strict=True))


def test_trained_beta_vae_and_rescaled_vae_reach_the_same_model():
    data = {"seed=1": datasets.generate(e1_data(700), 1)}
    method, train = vae_training(CFG, lr=1e-3, max_epochs=4, val_every=2, patience=5)
    beta_vae, rescaled = train_ensemble(
        method,
        train,
        [
            vae_run("beta", "seed=1", model_seed=7, gamma2=1e3, beta=4.0),
            vae_run("plain", "seed=1", model_seed=7, gamma2=1e3 / 4.0, beta=1.0),
        ],
        data,
        device="cpu",
        progress=False,
    )
    for key, value in beta_vae.state.items():
        # Adam divides the scale out; only its eps (1e-8) and float32 rounding differ
        torch.testing.assert_close(value, rescaled.state[key], rtol=1e-3, atol=1e-4)
    assert beta_vae.best["mcc_batch"] == pytest.approx(rescaled.best["mcc_batch"], abs=1e-3)


def test_the_kl_warmup_weights_each_epoch_geometrically_and_ends_at_beta():
    method, _ = vae_training(CFG, kl_warmup={"epochs": 4, "start": 0.01})
    settings = {"gamma2": torch.tensor([1e3, 50.0]), "beta": torch.tensor([1.0, 2.0])}
    weights = [method.training_settings(settings, e)["beta"] for e in range(1, 7)]
    for epoch, w in enumerate(weights[:4], start=1):
        torch.testing.assert_close(w, settings["beta"] * 0.01 ** (1 - (epoch - 1) / 4))
    assert weights[0].tolist() == pytest.approx([0.01, 0.02])
    assert weights[4] is settings["beta"] and weights[5] is settings["beta"]
    assert method.training_settings(settings, 1)["gamma2"] is settings["gamma2"]
    plain, _ = vae_training(CFG)
    assert plain.training_settings(settings, 1) is settings
    assert "kl_warmup" in method.config() and "kl_warmup" not in plain.config()


def test_a_warmup_epoch_trains_as_a_beta_vae_with_its_weight_and_checks_the_elbo():
    """One epoch of a warm-up from 0.1 is one epoch of a β-VAE with β = 0.1 (same weights);
    its check still scores the ELBO itself (β = 1), so the two runs' checks differ only by
    the KL's weight."""
    data = {"seed=1": datasets.generate(e1_data(700), 1)}
    runs = [vae_run("r", "seed=1", model_seed=7, gamma2=1e3, beta=1.0)]
    common = {"lr": 1e-3, "max_epochs": 1, "val_every": 1, "patience": 5}
    warm_method, train = vae_training(CFG, kl_warmup={"epochs": 3, "start": 0.1}, **common)
    (warm,) = train_ensemble(warm_method, train, runs, data, device="cpu", progress=False)
    beta_method, _ = vae_training(CFG, **common)
    beta_runs = [vae_run("r", "seed=1", model_seed=7, gamma2=1e3, beta=0.1)]
    (beta,) = train_ensemble(beta_method, train, beta_runs, data, device="cpu", progress=False)
    for key, value in warm.state.items():
        torch.testing.assert_close(value, beta.state[key], rtol=0, atol=0)
    w, b = warm.history[-1], beta.history[-1]
    assert w["val_rec_sq_err"] == b["val_rec_sq_err"] and w["val_kl"] == b["val_kl"]
    assert w["val_neg_elbo"] != pytest.approx(b["val_neg_elbo"])  # β = 1 against β = 0.1
