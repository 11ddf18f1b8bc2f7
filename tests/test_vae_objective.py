"""The objective against closed forms: with a linear decoder and a Gaussian prior, the expected
negative ELBO of a given Gaussian posterior is known exactly."""

import math

import torch

from identvae.models.ensemble import run_state_dict
from identvae.models.vae import VAEConfig, decoder_jacobian, encode, init_vae, neg_elbo


def closed_form_neg_elbo(x, mu, logvar, W, b, gamma2):
    """-E_q[log N(x; W z + b, I/gamma2)] + KL(N(mu, diag exp(logvar)) || N(0, I))."""
    d = x.shape[-1]
    var = logvar.exp()
    resid = ((x - (mu @ W + b)) ** 2).sum(-1) + (var * (W**2).sum(-1)).sum(-1)
    nll = 0.5 * gamma2 * resid + 0.5 * d * math.log(2 * math.pi / gamma2)
    kl = 0.5 * (var + mu**2 - 1 - logvar).sum(-1)
    return nll + kl


def test_monte_carlo_neg_elbo_matches_closed_form_for_linear_gaussian():
    torch.manual_seed(0)
    cfg = VAEConfig(obs_dim=4, latent_dim=2, prior="gaussian", n_layers=1)
    params = init_vae(cfg, [torch.Generator().manual_seed(s) for s in (1, 2)])
    params = {k: v.double() for k, v in params.items()}
    params["dec.0.bias"] = torch.randn_like(params["dec.0.bias"])
    x = torch.randn(2, 1, 4, dtype=torch.float64)
    gamma2 = torch.tensor([3.0, 50.0], dtype=torch.float64)
    samples = 200_000
    xs = x.expand(2, samples, 4)
    eps = torch.randn(2, samples, 2, dtype=torch.float64)
    loss, _ = neg_elbo(cfg, params, xs, eps, gamma2, torch.ones(2, dtype=torch.float64))
    mu, logvar = encode(cfg, params, x)
    for r in range(2):
        exact = closed_form_neg_elbo(
            x[r, 0],
            mu[r, 0],
            logvar[r, 0],
            params["dec.0.weight"][r],
            params["dec.0.bias"][r, 0],
            float(gamma2[r]),
        )
        assert abs(float(loss[r]) - float(exact)) < 0.01 * abs(float(exact)) + 0.05


def test_decoder_jacobian_of_a_linear_decoder_is_its_weight():
    cfg = VAEConfig(obs_dim=5, latent_dim=3, prior="gaussian", n_layers=1)
    params = init_vae(cfg, [torch.Generator().manual_seed(s) for s in (1, 2, 3)])
    jac = decoder_jacobian(cfg, params, torch.randn(3, 7, 3))
    for r in range(3):
        assert torch.allclose(jac[r], params["dec.0.weight"][r].T.expand(7, 5, 3))


def test_runs_initialise_from_their_own_seed_only():
    cfg = VAEConfig(obs_dim=3, latent_dim=3)
    together = init_vae(cfg, [torch.Generator().manual_seed(s) for s in (5, 6, 7)])
    alone = init_vae(cfg, [torch.Generator().manual_seed(6)])
    for key, value in run_state_dict(alone, 0).items():
        assert torch.equal(together[key][1], value)


def test_more_validation_elbo_samples_average_the_estimate_and_change_nothing_else():
    """val_elbo_samples: K samples per point average the validation neg-ELBO (its spread over
    repeated checks of the same weights falls like 1/sqrt(K)); every other metric, and with
    K = 1 every number, is that of one sample."""
    from identvae.metrics.evaluate import evaluate_vae

    cfg = VAEConfig(obs_dim=3, latent_dim=3, prior="uniform")
    params = init_vae(cfg, [torch.Generator().manual_seed(3)])
    x = torch.randn(1, 200, 3)
    s = torch.rand(1, 200, 3)
    one = torch.ones(1)

    def check(k: int, seed: int) -> dict:
        gen = [torch.Generator().manual_seed(seed)]
        return evaluate_vae(cfg, params, x, s, 1e3 * one, one, gen, 64, elbo_samples=k)[0]

    assert (
        check(1, 0)
        == evaluate_vae(cfg, params, x, s, 1e3 * one, one, [torch.Generator().manual_seed(0)], 64)[
            0
        ]
    )
    many = check(16, 0)
    assert many["val_neg_elbo"] != check(1, 0)["val_neg_elbo"]
    assert {k: v for k, v in many.items() if k != "val_neg_elbo"} == {
        k: v for k, v in check(1, 0).items() if k != "val_neg_elbo"
    }
    spread = {
        k: torch.tensor([check(k, seed)["val_neg_elbo"] for seed in range(30)]).std()
        for k in (1, 16)
    }
    assert 0.1 < float(spread[16] / spread[1]) < 0.5  # 1/sqrt(16) = 0.25
