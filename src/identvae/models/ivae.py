"""The iVAE family of "Variational Autoencoders and Nonlinear ICA" as an ensemble of R runs.

One architecture, two priors. ``prior="conditional"`` is the iVAE: the encoder reads (x, one-hot
u) and the prior is N(λ_mean(u), diag exp λ_logvar(u)) with λ_logvar an MLP of u, and λ_mean an
MLP of u (``prior_mean="learned"``) or 0 (``"zero"``). ``prior="standard"`` is the VAE family
(VAE, β-VAE, β-TC-VAE): the encoder reads x alone and the prior is N(0, I). Encoder mean and
log-variance are separate MLPs; the decoder is an MLP mean with a fixed Gaussian variance, or
Bernoulli logits for binary observations.

The loss is the official code's weighted decomposition with minibatch-weighted sampling (MWS),
docs/papers/ivae.md section 3, with per-run weights (a, b, c, d)::

    -mean_j[ a log p(x|z) - b (log q(z|x,u) - log q̂(z)) - c (log q̂(z) - Σ_i log q̂(z_i))
             - d (Σ_i log q̂(z_i) - log p(z|u)) ]

``log q̂(z_j) = logsumexp_k log q(z_j|x_k,u_k) - log(B N)`` over the minibatch (per dimension
for q̂(z_i)). With a = b = c = d = 1 the q̂ terms cancel and it is the single-sample negative
ELBO."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from identvae.data.segments import whitening_map
from identvae.models.ensemble import Params, init_mlp, mlp_forward, mlp_sizes

PRIORS = ("conditional", "standard")
PRIOR_MEANS = ("zero", "learned")
DECODERS = ("gaussian", "bernoulli")
LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class IVAEConfig:
    """The architecture shared by all runs of one ensemble."""

    obs_dim: int
    latent_dim: int
    n_segments: int
    prior: str = "conditional"
    prior_mean: str = "zero"
    hidden: int = 100
    n_layers: int = 3
    activation: str = "xtanh"
    slope: float = 0.1
    decoder: str = "gaussian"
    decoder_variance: float = 0.1

    def __post_init__(self) -> None:
        for name, value, known in (
            ("prior", self.prior, PRIORS),
            ("prior_mean", self.prior_mean, PRIOR_MEANS),
            ("decoder", self.decoder, DECODERS),
        ):
            if value not in known:
                raise ValueError(f"unknown {name} {value!r}; known: {known}")
        if self.decoder_variance <= 0:
            raise ValueError(f"decoder_variance must be > 0, got {self.decoder_variance}")

    @property
    def conditional(self) -> bool:
        return self.prior == "conditional"

    @property
    def encoder_inputs(self) -> int:
        return self.obs_dim + (self.n_segments if self.conditional else 0)


def init_ivae(cfg: IVAEConfig, generators: list[torch.Generator]) -> Params:
    """Initial parameters of R runs (PyTorch's default Linear init), one generator each."""
    n, d, m = cfg.latent_dim, cfg.obs_dim, cfg.n_segments

    def mlp(prefix: str, n_in: int, n_out: int) -> Params:
        sizes = mlp_sizes(n_in, n_out, cfg.n_layers, cfg.hidden)
        return init_mlp(prefix, sizes, generators, init="torch_default")

    params = mlp("enc_mean", cfg.encoder_inputs, n) | mlp("enc_logvar", cfg.encoder_inputs, n)
    params |= mlp("dec", n, d)
    if cfg.conditional:
        params |= mlp("prior_logvar", m, n)
        if cfg.prior_mean == "learned":
            params |= mlp("prior_mean", m, n)
    return params


def _mlp(cfg: IVAEConfig, params: Params, prefix: str, x: torch.Tensor) -> torch.Tensor:
    return mlp_forward(params, prefix, cfg.n_layers, x, cfg.slope, cfg.activation)


def one_hot(cfg: IVAEConfig, labels: torch.Tensor) -> torch.Tensor:
    """Segment labels [R, B] -> one-hot float [R, B, M]."""
    return F.one_hot(labels, cfg.n_segments).float()


def encode(
    cfg: IVAEConfig, params: Params, x: torch.Tensor, u: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and log-variance [R, B, n] of x [R, B, d] (u one-hot [R, B, M])."""
    inputs = torch.cat([x, u], dim=-1) if cfg.conditional else x
    return _mlp(cfg, params, "enc_mean", inputs), _mlp(cfg, params, "enc_logvar", inputs)


def prior(cfg: IVAEConfig, params: Params, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Prior mean and log-variance, broadcastable to [R, B, n]."""
    if not cfg.conditional:
        zero = torch.zeros(1, 1, 1, dtype=u.dtype, device=u.device)
        return zero, zero
    logvar = _mlp(cfg, params, "prior_logvar", u)
    mean = _mlp(cfg, params, "prior_mean", u) if cfg.prior_mean == "learned" else 0 * logvar
    return mean, logvar


def prior_of_labels(
    cfg: IVAEConfig, params: Params, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`prior` of the segments ``labels`` [R, N], computed once per segment and looked
    up (the prior depends on u alone): for the checks, where N is the whole dataset."""
    if not cfg.conditional:
        return prior(cfg, params, labels[..., None].float())
    runs = labels.shape[0]
    segments = torch.eye(cfg.n_segments, device=labels.device).expand(runs, -1, -1)
    mean, logvar = prior(cfg, params, segments)  # [R, M, n]
    index = labels[..., None].expand(-1, -1, cfg.latent_dim)
    return mean.gather(1, index), logvar.gather(1, index)


def decode(cfg: IVAEConfig, params: Params, z: torch.Tensor) -> torch.Tensor:
    """Decoder mean (Gaussian) or logits (Bernoulli) [R, B, d]."""
    return _mlp(cfg, params, "dec", z)


def log_normal(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(z; mean, exp logvar)."""
    return -0.5 * (LOG_2PI + logvar + (z - mean) ** 2 * torch.exp(-logvar))


def log_likelihood(
    cfg: IVAEConfig, x: torch.Tensor, out: torch.Tensor, variance: torch.Tensor | None = None
) -> torch.Tensor:
    """log p(x|z) summed over observed dimensions: [R, B]. ``variance`` [R]: each run's own
    Gaussian decoder variance (None: the chunk's ``cfg.decoder_variance``)."""
    if cfg.decoder == "bernoulli":
        return -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(-1)
    if variance is None:
        var = torch.full((x.shape[0],), cfg.decoder_variance, dtype=x.dtype, device=x.device)
    else:
        var = variance.to(x.dtype)
    var = var[:, None, None]
    return (-0.5 * ((x - out) ** 2 / var + torch.log(2 * math.pi * var))).sum(-1)


# --- whitened observations ----------------------------------------------------------------------

#: The fixed (never trained) parameters of the input transform every run applies to x first.
WHITEN_SHIFT, WHITEN_MATRIX = "whiten.shift", "whiten.matrix"


def whitening(
    observations: list[np.ndarray], whiten: list[bool], components: int | None = None
) -> Params:
    """Per run, the affine map x -> (x - shift) W its model sees instead of x: with ``whiten``,
    PCA whitening of that run's training observations [N, d]
    (:func:`identvae.data.segments.whitening_map`: unit variance along the ``components``
    largest principal directions, the smaller ones divided by the same scale), else the
    identity. ``WHITEN_SHIFT`` [R, 1, d], ``WHITEN_MATRIX`` [R, d, d], float32, from float64
    arithmetic.

    Why: the mixings drawn by the paper's generator stretch some directions of x far more
    than others (their linear part has condition numbers of 4-30 over seeds); a fixed
    decoder variance then drowns the weak directions, and whitening, an invertible linear map
    of the data, leaves the model identifiable while it equalises them."""
    shifts, matrices = [], []
    for x, on in zip(observations, whiten, strict=True):
        d = np.shape(x)[1]
        shift, matrix = whitening_map(x, components) if on else (np.zeros(d), np.eye(d))
        shifts.append(shift[None])
        matrices.append(matrix)
    return {
        WHITEN_SHIFT: torch.tensor(np.stack(shifts), dtype=torch.float32),
        WHITEN_MATRIX: torch.tensor(np.stack(matrices), dtype=torch.float32),
    }


def observe(params: Params, x: torch.Tensor) -> torch.Tensor:
    """What the model sees of x [R, B, d]: x through each run's input transform (x itself
    for parameters without one)."""
    if WHITEN_MATRIX not in params:
        return x
    return torch.bmm(x - params[WHITEN_SHIFT], params[WHITEN_MATRIX])


def log_det_observe(params: Params) -> torch.Tensor:
    """log |det W| of each run's input transform [R] (0 without one): the density of x is that
    of its transform times |det W|, so log p(x) = log p((x - shift) W) + log |det W|."""
    if WHITEN_MATRIX not in params:
        return torch.zeros(())
    return torch.linalg.slogdet(params[WHITEN_MATRIX].double()).logabsdet


@dataclass(frozen=True)
class Terms:
    """The per-sample pieces of the objective, each [R, B]."""

    log_px: torch.Tensor
    log_qz: torch.Tensor  # log q(z|x,u)
    log_qz_hat: torch.Tensor  # log q̂(z), minibatch-weighted
    log_qz_prod: torch.Tensor  # Σ_i log q̂(z_i)
    log_pz: torch.Tensor  # log p(z|u)


def mws_log_marginals(
    z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, dataset_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch-weighted estimates of log q̂(z_j) and Σ_i log q̂(z_ji), each [R, B], from the
    samples z [R, B, n] and the batch's posteriors (mean, logvar [R, B, n])."""
    log_norm = math.log(z.shape[1] * dataset_size)
    joint, marginals = _PairwiseLogSumExps.apply(z, mean, logvar)
    return joint - log_norm, marginals - z.shape[2] * log_norm


class _PairwiseLogSumExps(torch.autograd.Function):
    """log Σ_k q(z_j | x_k) and Σ_i log Σ_k q(z_ji | x_k) [R, B_j] over a minibatch, with the
    backward pass written out.

    The pairwise log-densities P [R, B_j, n, B_k] (the batch axis k that is summed over last)
    are the estimator's cost, O(B² n) per run; through autograd they took some 25 passes over
    P's size, here 14. With D = z_j - m_k and p = exp(-logvar_k), dP/dz_j = -D p,
    dP/dm_k = D p and dP/dlogvar_k = (D² p - 1) / 2, each weighted by the softmaxes of the two
    log-sum-exps and their incoming gradients."""

    @staticmethod
    def forward(ctx, z, mean, logvar):  # noqa: ANN001, ANN205 (torch's signature)
        mean_k = mean.transpose(1, 2)[:, None]  # [R, 1, n, B_k]
        logvar_k = logvar.transpose(1, 2)[:, None]
        precision = torch.exp(-logvar_k)
        diff = z[..., None] - mean_k  # [R, B_j, n, B_k]
        pairwise = ((LOG_2PI + logvar_k) + diff.square() * precision).mul_(-0.5)
        joint, joint_weights = _softmax_lse(pairwise.sum(2))
        marginals, weights = _softmax_lse(pairwise, inplace=True)
        ctx.save_for_backward(diff, precision, weights, joint_weights)
        return joint, marginals.sum(-1)

    @staticmethod
    def backward(ctx, grad_joint, grad_marginals):  # noqa: ANN001, ANN205
        diff, precision, weights, joint_weights = ctx.saved_tensors
        # the weight of each pairwise term in the two outputs: [R, B_j, n, B_k]
        coef = weights * grad_marginals[:, :, None, None]
        coef += (joint_weights * grad_joint[:, :, None])[:, :, None, :]
        sum_over_j = coef.sum(1)  # [R, n, B_k]
        scaled = coef.mul_(precision).mul_(diff)  # C p D
        grad_z = -scaled.sum(-1)
        grad_mean = scaled.sum(1).transpose(1, 2)
        grad_logvar = (0.5 * (scaled.mul_(diff).sum(1) - sum_over_j)).transpose(1, 2)
        return grad_z, grad_mean, grad_logvar


def _softmax_lse(x: torch.Tensor, inplace: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(log Σ_k exp x_k, the softmax over k) on the last axis, terms floored at LSE_FLOOR below
    the largest as in :func:`logsumexp`; ``inplace`` reuses x for the softmax."""
    top = x.amax(-1, keepdim=True)
    shifted = (x.sub_(top) if inplace else x - top).clamp_min_(LSE_FLOOR).exp_()
    total = shifted.sum(-1, keepdim=True)
    return (top + total.log()).squeeze(-1), shifted.div_(total)


#: Terms more than this far below a log-sum-exp's largest are floored at it: each then adds
#: at most exp(-40) = 4e-18 to a sum of at least 1, nothing in float32, while the CPU's
#: vectorised exp takes a slow path for arguments below float32's range (about -88), 50-150x
#: slower, and denormal results slow the products of the backward pass.
LSE_FLOOR = -40.0


def logsumexp(x: torch.Tensor) -> torch.Tensor:
    """log Σ_k exp x[..., k] over the last axis of finite x, as ``torch.logsumexp`` to float32
    round-off, but without the slow path for terms that cannot change the sum (``LSE_FLOOR``).
    A row whose largest term is not finite gives NaN (the loop then marks the run diverged)."""
    top = x.amax(-1, keepdim=True).detach()
    return top.squeeze(-1) + torch.exp((x - top).clamp_min(LSE_FLOOR)).sum(-1).log()


def needs_marginals(weights: torch.Tensor) -> torch.Tensor:
    """Rows whose objective depends on q̂: unless b = c = d, where the q̂ terms cancel exactly
    and the loss is -(a log p(x|z) - b (log q(z|x,u) - log p(z|u)))."""
    b, c, d = weights[:, 1], weights[:, 2], weights[:, 3]
    return torch.nonzero((b != c) | (c != d)).flatten()


def terms(
    cfg: IVAEConfig,
    params: Params,
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: torch.Tensor,
    dataset_size: int,
    marginal_rows: torch.Tensor | None = None,
    variance: torch.Tensor | None = None,
) -> Terms:
    """The objective's pieces for a minibatch x [R, B, d], labels [R, B], noise eps [R, B, n]
    (x as given: each run's input transform, :func:`observe`, is applied here).

    The minibatch-weighted q̂ terms, O(B²) per run, are computed for ``marginal_rows`` only
    (all rows when None) and are 0 elsewhere: rows whose weights cancel them
    (:func:`needs_marginals`). ``variance`` [R]: each run's decoder variance, see
    :func:`log_likelihood`."""
    x = observe(params, x)
    u = one_hot(cfg, labels)
    mean, logvar = encode(cfg, params, x, u)
    z = mean + torch.exp(0.5 * logvar) * eps
    p_mean, p_logvar = prior(cfg, params, u)
    if marginal_rows is None:
        joint, marginals = mws_log_marginals(z, mean, logvar, dataset_size)
    else:
        joint = torch.zeros(z.shape[:2], dtype=z.dtype, device=z.device)
        marginals = torch.zeros_like(joint)
        if len(marginal_rows):
            rows = marginal_rows
            j, m = mws_log_marginals(z[rows], mean[rows], logvar[rows], dataset_size)
            joint = joint.index_put((rows,), j)
            marginals = marginals.index_put((rows,), m)
    return Terms(
        log_px=log_likelihood(cfg, x, decode(cfg, params, z), variance),
        log_qz=log_normal(z, mean, logvar).sum(-1),
        log_qz_hat=joint,
        log_qz_prod=marginals,
        log_pz=log_normal(z, p_mean, p_logvar).sum(-1),
    )


def weighted_loss(t: Terms, weights: torch.Tensor) -> torch.Tensor:
    """Per-run loss [R] of the decomposition with weights [R, 4] = (a, b, c, d)."""
    a, b, c, d = (weights[:, i, None] for i in range(4))
    objective = (
        a * t.log_px
        - b * (t.log_qz - t.log_qz_hat)
        - c * (t.log_qz_hat - t.log_qz_prod)
        - d * (t.log_qz_prod - t.log_pz)
    )
    return -objective.mean(-1)


def kl_to_prior(
    mean: torch.Tensor, logvar: torch.Tensor, p_mean: torch.Tensor, p_logvar: torch.Tensor
) -> torch.Tensor:
    """KL(q(z|x,u) || p(z|u)) of diagonal Gaussians, summed over the latent axis: [R, B]."""
    ratio = torch.exp(logvar - p_logvar)
    return 0.5 * (ratio + (mean - p_mean) ** 2 * torch.exp(-p_logvar) - 1 - logvar + p_logvar).sum(
        -1
    )
