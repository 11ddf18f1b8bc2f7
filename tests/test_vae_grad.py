"""The hand-written training gradient (models/vae_grad.py) against autograd on the same loss,
and the MLP decoder's hand-written forward-mode Jacobian against torch.func.jacfwd."""

import itertools

import pytest
import torch

from identvae.methods.base import Batch, Part
from identvae.methods.etg_vae import PRIOR_CODE, EtgVAE
from identvae.metrics.elbo_gap import GapSettings
from identvae.models import vae_grad
from identvae.models.ensemble import mlp_forward
from identvae.models.vae import VAEConfig, decoder_jacobian, init_vae, neg_elbo
from identvae.train.ensemble import train_epoch
from identvae.train.optim import FlatAdam

RUNS, BATCH = 4, 64


def inputs(cfg: VAEConfig, gamma2: float, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    params = init_vae(
        cfg, [torch.Generator().manual_seed(seed + r) for r in range(RUNS)], None, [gamma2] * RUNS
    )
    # biases away from zero, so that a wrong bias gradient shows
    params = {
        k: v + 0.1 * torch.randn(v.shape, generator=gen) if "bias" in k else v
        for k, v in params.items()
    }
    x = 0.4 * torch.randn(RUNS, BATCH, cfg.obs_dim, generator=gen)
    eps = torch.randn(RUNS, BATCH, cfg.latent_dim, generator=gen)
    gamma2s = torch.tensor([gamma2, gamma2 / 3, gamma2 * 2, gamma2], dtype=torch.float32)
    beta = torch.tensor([1.0, 0.5, 2.0, 1.0])
    codes = torch.arange(RUNS) % len(cfg.priors) if cfg.priors else None
    return params, x, eps, gamma2s, beta, codes


def autograd_reference(cfg, params, x, eps, gamma2, beta, codes):
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    loss, _ = neg_elbo(cfg, leaves, x, eps, gamma2, beta, codes)
    loss.sum().backward()
    return loss.detach(), {k: v.grad for k, v in leaves.items()}


CASES = [
    VAEConfig(obs_dim=d, latent_dim=n, prior=prior, n_layers=layers, decoder_variance=variance)
    for prior, variance, layers, (d, n) in itertools.product(
        ("uniform", "gaussian", "laplace"), ("fixed", "learned"), (1, 2, 3), ((3, 3), (5, 2))
    )
] + [
    VAEConfig(obs_dim=4, latent_dim=4, prior="per_run", priors=priors)
    for priors in (
        ("uniform", "laplace", "gaussian"),
        ("laplace", "gaussian"),
        ("uniform", "gaussian"),
    )
]


@pytest.mark.parametrize(
    "cfg",
    CASES,
    ids=lambda c: f"{c.prior}{'-'.join(c.priors)}-{c.decoder_variance}-L{c.n_layers}-d{c.obs_dim}",
)
@pytest.mark.parametrize("gamma2", [10.0, 1e4])
def test_loss_and_gradient_equal_autograd(cfg, gamma2):
    params, x, eps, g2, beta, codes = inputs(cfg, gamma2)
    want_loss, want = autograd_reference(cfg, params, x, eps, g2, beta, codes)
    loss, grads = vae_grad.neg_elbo_and_grad(cfg, params, x, eps, g2, beta, codes)
    torch.testing.assert_close(loss, want_loss, rtol=1e-5, atol=1e-5)
    assert set(grads) == set(want)
    for name, g in want.items():
        assert grads[name].shape == g.shape, name
        # float32 round-off of differently ordered sums, relative to the tensor's scale
        scale = g.abs().max().clamp_min(1e-6)
        assert (grads[name] - g).abs().max() <= 1e-4 * scale, name


def test_each_run_gets_only_its_own_gradient():
    cfg = VAEConfig(obs_dim=3, latent_dim=3, prior="per_run", priors=("uniform", "gaussian"))
    params, x, eps, g2, beta, codes = inputs(cfg, 1e3)
    _, together = vae_grad.neg_elbo_and_grad(cfg, params, x, eps, g2, beta, codes)
    r = 1
    alone_params = {k: v[r : r + 1] for k, v in params.items()}
    _, alone = vae_grad.neg_elbo_and_grad(
        cfg,
        alone_params,
        x[r : r + 1],
        eps[r : r + 1],
        g2[r : r + 1],
        beta[r : r + 1],
        codes[r : r + 1],
    )
    for name, g in alone.items():
        # float32 round-off only (batched products of another size); another run's
        # gradient leaking in would be of the gradient's own size
        assert (together[name][r : r + 1] - g).abs().max() <= 1e-5 * g.abs().max(), name


@pytest.mark.parametrize(
    "cfg",
    [
        VAEConfig(obs_dim=3, latent_dim=3, prior="beta"),
        VAEConfig(obs_dim=3, latent_dim=3, prior="beta", beta_learned=True),
        VAEConfig(obs_dim=3, latent_dim=3, prior="per_run", priors=("uniform", "beta")),
        VAEConfig(
            obs_dim=3, latent_dim=3, prior="gaussian", decoder="true_mixing", mixing="moebius"
        ),
    ],
    ids=["beta", "learned-beta", "per-run-with-beta", "true-mixing"],
)
def test_what_it_does_not_cover_goes_to_autograd(cfg):
    method = EtgVAE(cfg, 64, GapSettings(8, 4, 4, 2))
    assert not vae_grad.supports(cfg)
    with pytest.raises(ValueError, match="use autograd"):
        vae_grad.neg_elbo_and_grad(cfg, {}, torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), None, None)
    assert method.loss_and_grad({}, Batch(torch.zeros(1, 2, 3), None, None), {}) is None
    assert "gradients" not in method.config()


def test_the_option_and_the_checkpoint_fingerprint():
    cfg = VAEConfig(obs_dim=3, latent_dim=3)
    gap = GapSettings(8, 4, 4, 2)
    assert EtgVAE(cfg, 64, gap).config()["gradients"] == "manual"
    autograd = EtgVAE(cfg, 64, gap, gradients="autograd")
    assert "gradients" not in autograd.config()  # autograd's checkpoints keep their fingerprint
    params, x, eps, g2, beta, _ = inputs(cfg, 1e3)
    assert autograd.loss_and_grad(params, Batch(x, eps, None), {"gamma2": g2, "beta": beta}) is None


def test_an_epoch_by_hand_trains_as_an_epoch_by_autograd():
    """The same 30 steps of the trainer's epoch, one way and the other: the weights agree to
    float32 round-off grown over the steps."""
    cfg = VAEConfig(obs_dim=3, latent_dim=3, prior="per_run", priors=("uniform", "laplace"))
    gap = GapSettings(8, 4, 4, 2)
    params, _, _, g2, beta, codes = inputs(cfg, 1e4)
    settings = {"gamma2": g2, "beta": beta, PRIOR_CODE: codes.float()}
    x = 0.3 * torch.randn(2, 30 * 16, 3, generator=torch.Generator().manual_seed(9))
    train = Part(x, torch.zeros(2, x.shape[1], 3), None)
    data = torch.tensor([0, 1, 1, 0])
    out = {}
    for way in ("manual", "autograd"):
        method = EtgVAE(cfg, 64, gap, gradients=way)
        leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
        opt = FlatAdam(list(leaves.values()), lr=1e-3)
        gens = [torch.Generator().manual_seed(r) for r in range(RUNS)]
        loss = train_epoch(method, leaves, opt, train, data, settings, gens, batch_size=16)
        out[way] = (loss, {k: v.detach() for k, v in leaves.items()})
    torch.testing.assert_close(out["manual"][0], out["autograd"][0], rtol=1e-4, atol=1e-4)
    for name, value in out["autograd"][1].items():
        moved = (value - params[name]).abs().max()
        assert moved > 1e-3, name  # the steps did train it
        assert (out["manual"][1][name] - value).abs().max() <= 1e-3 * moved, name


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_the_mlp_decoder_jacobian_is_jacfwds(layers):
    cfg = VAEConfig(obs_dim=5, latent_dim=3, n_layers=layers)
    params = init_vae(cfg, [torch.Generator().manual_seed(s) for s in range(3)])
    z = torch.randn(3, 50, 3, generator=torch.Generator().manual_seed(1))
    dec = {k: v for k, v in params.items() if k.startswith("dec.")}

    def single(p, zi):
        return mlp_forward(p, "dec", layers, zi, cfg.slope)

    per_run = torch.func.vmap(torch.func.jacfwd(single, argnums=1), in_dims=(None, 0))
    want = torch.func.vmap(per_run, in_dims=(0, 0))(dec, z)
    # the same products in the same order: equal on this CPU; allow a BLAS's reordering
    torch.testing.assert_close(decoder_jacobian(cfg, params, z), want, rtol=1e-6, atol=1e-7)
