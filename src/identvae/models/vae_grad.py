"""The MLP VAE's training loss with its gradient written out by hand: the fast path of a step.

The same objective as :func:`identvae.models.vae.neg_elbo` (one reparameterised sample, a
Monte-Carlo KL, the Gaussian likelihood with its normaliser, the sigmoid trick for bounded
priors), differentiated analytically instead of by autograd.

Why: an ensemble step of these tiny networks is bound by per-operation cost, not arithmetic.
Autograd's step is 83 tensor operations for E1's model (benchmarks/step_by_hand.py counts them),
each recorded into a graph and replayed; this path takes 69 with no graph, and holds the
activations feature-major ([R, features, B]), a layout in which the CPU's batched matrix
products of the 30 -> 3 and 30 -> 6 layers are several times faster. The numbers equal
autograd's to float32 round-off, not bitwise (tests/test_vae_grad.py); ``train.gradients:
autograd`` keeps the autograd path.

Covered: MLP encoder and decoder (LeakyReLU, any depth), priors uniform, gaussian and laplace
(also mixed per run), every decoder-variance mode. Anything else (a Beta prior, the true-mixing
decoder, the conv network) goes through autograd: see :func:`supports`."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from identvae.models.ensemble import Params
from identvae.models.priors import is_bounded
from identvae.models.vae import LOG_GAMMA2, VAEConfig
from identvae.sweeps import PER_RUN

#: The priors whose log density and its gradient are written out here.
PRIORS = ("uniform", "gaussian", "laplace")


def supports(cfg: VAEConfig) -> bool:
    """Whether :func:`neg_elbo_and_grad` covers this architecture."""
    return (
        cfg.network == "mlp"
        and cfg.decoder == "mlp"
        and not cfg.beta_learned
        and all(p in PRIORS for p in cfg.run_prior_names)
    )


def _forward(params: Params, prefix: str, n_layers: int, h: torch.Tensor, slope: float):
    """h [R, in, B] -> ([R, out, B], the layer inputs and pre-activations for the backward)."""
    saved = []
    for i in range(n_layers):
        w, b = params[f"{prefix}.{i}.weight"], params[f"{prefix}.{i}.bias"]
        inp = h
        h = torch.baddbmm(b.transpose(1, 2), w.transpose(1, 2), inp)
        saved.append((inp, h))
        if i < n_layers - 1:
            h = F.leaky_relu(h, slope)
    return h, saved


def _backward(
    params: Params,
    prefix: str,
    n_layers: int,
    g: torch.Tensor,
    saved: list,
    slope: float,
    grads: dict[str, torch.Tensor],
    input_grad: bool,
) -> torch.Tensor | None:
    """The gradient g [R, out, B] of the network's output back to its weights (into ``grads``)
    and, with ``input_grad``, to its input [R, in, B]."""
    for i in reversed(range(n_layers)):
        inp, pre = saved[i]
        if i < n_layers - 1:
            g = torch.ops.aten.leaky_relu_backward(g, pre, slope, False)
        w = params[f"{prefix}.{i}.weight"]
        grads[f"{prefix}.{i}.weight"] = torch.bmm(inp, g.transpose(1, 2))
        grads[f"{prefix}.{i}.bias"] = g.sum(2).unsqueeze(1)
        if i > 0 or input_grad:
            g = torch.bmm(w, g)
    return g if input_grad else None


def _per_run(codes: torch.Tensor | None, cfg: VAEConfig, prior: str) -> torch.Tensor | float:
    """1.0 where a run has ``prior`` ([R, 1, 1] with mixed priors), else a Python 0 or 1."""
    if cfg.prior != PER_RUN:
        return float(cfg.prior == prior)
    table = torch.tensor([float(p == prior) for p in cfg.priors], device=codes.device)
    return table[codes.long()][:, None, None]


@torch.no_grad()
def neg_elbo_and_grad(
    cfg: VAEConfig,
    params: Params,
    x: torch.Tensor,
    eps: torch.Tensor,
    gamma2: torch.Tensor,
    beta: torch.Tensor,
    prior_codes: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-run mean negative ELBO [R] of x [R, B, d] with noise eps [R, B, n], and the gradient
    of each run's loss with respect to each of its trainable parameters (same shapes)."""
    if not supports(cfg):
        raise ValueError(
            f"the hand-written gradient covers the MLP VAE with priors {PRIORS}, not network "
            f"{cfg.network!r}, decoder {cfg.decoder!r}, priors {cfg.run_prior_names!r}: "
            "use autograd"
        )
    n, d = cfg.latent_dim, x.shape[-1]
    batch = x.shape[1]
    x_t, eps_t = x.transpose(1, 2), eps.transpose(1, 2)
    names = cfg.run_prior_names
    codes = prior_codes if cfg.prior == PER_RUN else None

    out, enc_saved = _forward(params, "enc", cfg.n_layers, x_t, cfg.slope)
    mu, logvar = out[:, :n], out[:, n:]
    std = torch.exp(0.5 * logvar)
    y = torch.addcmul(mu, std, eps_t)
    bounded = _per_run(codes, cfg, "uniform")  # the only bounded prior covered
    any_bounded, all_bounded = any(map(is_bounded, names)), all(map(is_bounded, names))
    s = torch.sigmoid(y) if any_bounded else None
    z = s if all_bounded else torch.where(bounded.bool(), s, y) if any_bounded else y
    x_hat, dec_saved = _forward(params, "dec", cfg.n_layers, z, cfg.slope)
    diff = x_hat - x_t

    learned = cfg.decoder_variance == "learned"
    precision = params[LOG_GAMMA2].exp() if learned else gamma2
    sq_err = (diff * diff).sum(1).mean(1)  # [R]
    beta_b = beta[:, None, None] / batch  # d(beta * mean_B kl) / d(kl term of one point)

    # the loss value: likelihood, then log q, then the prior
    log_q = -0.5 * ((eps_t * eps_t).sum((1, 2)) + logvar.sum((1, 2))) / batch
    log_q = log_q - 0.5 * n * math.log(2 * math.pi)
    log_p0 = torch.zeros_like(log_q)
    g_prior = None  # d(-log p0)/dz
    if any_bounded:
        log_det = (F.softplus(-y) + F.softplus(y)) * bounded
        log_q = log_q + log_det.sum((1, 2)) / batch
    if "gaussian" in names:
        mine = _per_run(codes, cfg, "gaussian")
        term = (z * z).sum((1, 2)) / batch + n * math.log(2 * math.pi)
        log_p0 = log_p0 - 0.5 * term * _flat(mine)
        g_prior = z * mine
    if "laplace" in names:
        mine = _per_run(codes, cfg, "laplace")
        term = z.abs().sum((1, 2)) / batch + n * math.log(2.0)
        log_p0 = log_p0 - term * _flat(mine)
        g_laplace = z.sign() * mine
        g_prior = g_laplace if g_prior is None else g_prior + g_laplace
    neg_log_lik = 0.5 * precision * sq_err + 0.5 * d * torch.log(2 * math.pi / precision)
    loss = neg_log_lik + beta * (log_q - log_p0)

    grads: dict[str, torch.Tensor] = {}
    g_x_hat = diff * (precision[:, None, None] / batch)
    g_z = _backward(params, "dec", cfg.n_layers, g_x_hat, dec_saved, cfg.slope, grads, True)
    if g_prior is not None:
        g_z = g_z + g_prior * beta_b
    if any_bounded:
        # through z = sigmoid(y), and the sigmoid trick's log |dz/dy| in log q
        g_bounded = g_z * (s * (1 - s)) + beta_b * (2 * s - 1)
        g_y = g_bounded if all_bounded else torch.where(bounded.bool(), g_bounded, g_z)
    else:
        g_y = g_z
    g_logvar = g_y * eps_t * (0.5 * std) - 0.5 * beta_b
    g_out = torch.cat([g_y, g_logvar], 1)
    _backward(params, "enc", cfg.n_layers, g_out, enc_saved, cfg.slope, grads, False)
    if learned:
        grads[LOG_GAMMA2] = 0.5 * precision * sq_err - 0.5 * d
    return loss, grads


def _flat(mine: torch.Tensor | float) -> torch.Tensor | float:
    return mine[:, 0, 0] if isinstance(mine, torch.Tensor) else mine
