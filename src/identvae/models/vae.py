"""The MLP VAE of "Embrace the Gap" as an ensemble of R runs.

Encoder d -> 2n (mean and log-variance), decoder n -> d, Gaussian decoder with per-run precision
gamma2, factorised prior; bounded priors use the sigmoid trick. The loss of each run depends only on
that run's parameters, so summing the per-run losses and stepping an elementwise optimiser trains R
independent models.

With ``decoder="true_mixing"`` (E4, the ELBO gap) the decoder is not a network but the true mixing
of each run's dataset, ``f(z) = mixing(z) - center``: its parameters are stacked along the run
axis under the prefix ``mix.`` (float64, cast to the latents' dtype when applied), and they are
fixed (:func:`is_trainable` is False for them, so the trainer never gives them to the
optimiser). Only the encoder (and a learned prior, if any) is then trained.

The decoder precision gamma2 is the run's sweep value (``decoder_variance="fixed"``), a trainable
``dec.log_gamma2`` [R] started at the log of that value (``"learned"``), or a per-run value the
trainer resets to the validation MLE at each check (``"mle"``).

With ``network="conv"`` (E5, Sprites images) encoder and decoder are the convolutional networks
of :mod:`identvae.models.conv` for images of ``resolution`` x ``resolution``; observations are
then flattened images (D = 3 H W) with values in [0, 1] (:func:`as_input` converts the stored
uint8 pixels), so the loss below is unchanged.

With ``prior="per_run"`` the runs of one ensemble have different priors (``VAEConfig.priors``,
see :mod:`identvae.models.priors`): each model function then takes ``prior_codes`` [R], the
index of each run's prior in that tuple."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from identvae.data.mixings import MIXINGS
from identvae.models import conv
from identvae.models.ensemble import Params, init_mlp, mlp_forward, mlp_sizes
from identvae.models.priors import (
    PRIORS,
    bounded_per_run,
    init_prior,
    is_bounded,
    log_prior,
    log_prior_per_run,
    to_support_per_run,
)
from identvae.sweeps import PER_RUN  # VAEConfig.prior of an ensemble of mixed priors

DECODERS = ("mlp", "true_mixing")
NETWORKS = ("mlp", "conv")
DECODER_VARIANCES = ("fixed", "learned", "mle")
#: The learned log decoder precision of ``decoder_variance="learned"``, one per run.
LOG_GAMMA2 = "dec.log_gamma2"
#: Prefix of the fixed (never optimised) decoder parameters of ``decoder="true_mixing"``.
FIXED_PREFIX = "mix."


def is_trainable(name: str) -> bool:
    """Whether the parameter ``name`` is optimised (the true mixing's parameters are not)."""
    return not name.startswith(FIXED_PREFIX)


@dataclass(frozen=True)
class VAEConfig:
    """The architecture shared by all runs of one ensemble."""

    obs_dim: int
    latent_dim: int
    prior: str = "uniform"
    n_layers: int = 2
    hidden_factor: int = 10
    slope: float = 0.2
    beta_learned: bool = False
    beta_alpha: float = 3.0
    beta_beta: float = 11.0
    decoder: str = "mlp"  # "mlp" (learned) | "true_mixing" (fixed to the dataset's mixing)
    mixing: str | None = None  # the mixing's name, for decoder="true_mixing"
    decoder_variance: str = "fixed"  # "fixed" | "learned" | "mle", see the module docstring
    priors: tuple[str, ...] = ()  # with prior="per_run": the priors a run's code indexes
    network: str = "mlp"  # "mlp" | "conv" (E5: images of resolution x resolution)
    resolution: int | None = None  # with network="conv"

    def __post_init__(self) -> None:
        if self.network not in NETWORKS:
            raise ValueError(f"unknown network {self.network!r}; known: {NETWORKS}")
        if self.network == "conv":
            conv.check_resolution(self.resolution)
            if self.decoder != "mlp":
                raise ValueError(
                    f"network 'conv' learns its decoder: it needs decoder 'mlp' (a learned "
                    f"network), not {self.decoder!r}"
                )
            if self.obs_dim != conv.obs_dim(self.resolution):
                raise ValueError(
                    f"network 'conv' at resolution {self.resolution} takes observations of "
                    f"{conv.obs_dim(self.resolution)} values (3 x H x W), got {self.obs_dim}"
                )
        elif self.resolution is not None:
            raise ValueError(f"resolution {self.resolution!r} is only read with network 'conv'")
        if self.prior == PER_RUN:
            unknown = [p for p in self.priors if p not in PRIORS]
            if len(self.priors) < 2 or unknown:
                raise ValueError(
                    f"prior {PER_RUN!r} needs at least two known priors in priors, got "
                    f"{self.priors!r}; known: {PRIORS}"
                )
            if self.beta_learned:
                raise ValueError(
                    f"prior {PER_RUN!r} cannot learn Beta parameters (beta_learned): train a "
                    "learned Beta prior in an ensemble of its own"
                )
        elif self.priors:
            raise ValueError(f"priors {self.priors!r} is only read with prior {PER_RUN!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.decoder!r}; known: {DECODERS}")
        if self.decoder_variance not in DECODER_VARIANCES:
            raise ValueError(
                f"unknown decoder_variance {self.decoder_variance!r}; known: {DECODER_VARIANCES}"
            )
        if self.decoder == "true_mixing":
            if self.decoder_variance != "fixed":
                raise ValueError(
                    f"decoder 'true_mixing' needs the sweep's fixed gamma2 (decoder_variance "
                    f"'fixed'), not decoder_variance {self.decoder_variance!r}"
                )
            if self.mixing not in MIXINGS:
                raise ValueError(
                    f"decoder 'true_mixing' needs a known mixing name, got {self.mixing!r}; "
                    f"known: {sorted(MIXINGS)}"
                )
            if any(map(is_bounded, self.run_prior_names)):
                raise ValueError(
                    f"decoder 'true_mixing' feeds the latents to the mixing directly, so it "
                    f"needs an unbounded prior (gaussian, laplace), not {self.prior!r}"
                )

    @property
    def run_prior_names(self) -> tuple[str, ...]:
        """The priors the runs may have: ``priors`` with prior="per_run", else ``(prior,)``."""
        return self.priors if self.prior == PER_RUN else (self.prior,)

    @property
    def hidden(self) -> int:
        return self.latent_dim * self.hidden_factor

    @property
    def prior_config(self) -> dict:
        return {
            "beta_learned": self.beta_learned,
            "beta_alpha": self.beta_alpha,
            "beta_beta": self.beta_beta,
        }


MixingSpec = tuple[str, dict[str, np.ndarray]]  # (mixing name, its stored parameters)


def init_vae(
    cfg: VAEConfig,
    generators: list[torch.Generator],
    mixings: list[MixingSpec] | None = None,
    gamma2: Sequence[float] | None = None,
) -> Params:
    """Initial parameters of R runs, one generator each. With ``decoder="true_mixing"``,
    ``mixings`` gives each run's dataset mixing (name and stored params, centre included); the
    encoder is drawn first, so it starts from the same weights as with an MLP decoder. With
    ``decoder_variance="learned"``, ``gamma2`` gives each run's initial decoder precision."""
    n, d = cfg.latent_dim, cfg.obs_dim
    if cfg.network == "conv":
        params = conv.init_conv_encoder("enc", cfg.resolution, 2 * n, generators)
        params |= conv.init_conv_decoder("dec", cfg.resolution, n, generators)
    else:
        params = init_mlp("enc", mlp_sizes(d, 2 * n, cfg.n_layers, cfg.hidden), generators)
        if cfg.decoder == "true_mixing":
            params |= stack_mixing_params(cfg, mixings, len(generators))
        else:
            params |= init_mlp("dec", mlp_sizes(n, d, cfg.n_layers, cfg.hidden), generators)
    if cfg.decoder_variance == "learned":
        if gamma2 is None or len(gamma2) != len(generators):
            got = None if gamma2 is None else len(gamma2)
            raise ValueError(
                f"decoder_variance 'learned' needs one initial gamma2 per run "
                f"({len(generators)}), got {got}"
            )
        params[LOG_GAMMA2] = torch.log(torch.tensor(gamma2, dtype=torch.float64)).float()
    params |= init_prior(cfg.prior, n, len(generators), cfg.prior_config)
    return params


def stack_mixing_params(cfg: VAEConfig, mixings: list[MixingSpec] | None, runs: int) -> Params:
    """The runs' true-mixing parameters stacked along the run axis as float64 ``mix.<name>``
    tensors [R, ...], with a ``mix.center`` [R, d] (zeros for uncentred data)."""
    if mixings is None or len(mixings) != runs:
        got = None if mixings is None else len(mixings)
        raise ValueError(f"decoder 'true_mixing' needs one mixing per run ({runs}), got {got}")
    names = {name for name, _ in mixings}
    if names != {cfg.mixing}:
        raise ValueError(
            f"decoder 'true_mixing' of mixing {cfg.mixing!r} given datasets mixed by "
            f"{sorted(names)}: all runs of one ensemble must share the configured mixing"
        )
    per_run = []
    for _, p in mixings:
        p = {k: np.asarray(v, dtype=np.float64) for k, v in p.items()}
        p.setdefault("center", np.zeros(cfg.obs_dim))
        per_run.append(p)
    keys = set(per_run[0])
    for p in per_run:
        if set(p) != keys or any(p[k].shape != per_run[0][k].shape for k in keys):
            raise ValueError(
                "decoder 'true_mixing': the runs' mixings have different parameter shapes "
                "(e.g. different mixing_options); train them in separate chunks"
            )
    return {
        f"{FIXED_PREFIX}{k}": torch.as_tensor(np.stack([p[k] for p in per_run]))
        for k in sorted(keys)
    }


def true_mixing(cfg: VAEConfig, mix: Params, z: torch.Tensor) -> torch.Tensor:
    """One run's true mixing at z [..., n] (in z's dtype); ``mix`` holds its params without the
    prefix, see :func:`mixing_params`."""
    mix = {k: v.to(z.dtype) for k, v in mix.items()}
    center = mix.pop("center")
    return MIXINGS[cfg.mixing][1](z, **mix) - center


def mixing_params(params: Params) -> Params:
    """The ``mix.`` parameters without their prefix."""
    return {k[len(FIXED_PREFIX) :]: v for k, v in params.items() if not is_trainable(k)}


def as_input(x: torch.Tensor) -> torch.Tensor:
    """Stored observations [R, B, ...] as the networks take them: float observations as they
    are, uint8 images [R, B, 3, H, W] as pixel values in [0, 1] flattened to [R, B, 3 H W]."""
    if x.dtype == torch.uint8:
        return (x.float() / 255.0).flatten(2)
    return x


def encode(cfg: VAEConfig, params: Params, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x [R, B, d] -> (mu, logvar), each [R, B, n] (in the pre-sigmoid space for bounded priors)."""
    if cfg.network == "conv":
        h = conv.conv_encode(params, "enc", cfg.resolution, x)
    else:
        h = mlp_forward(params, "enc", cfg.n_layers, x, cfg.slope)
    return h[..., : cfg.latent_dim], h[..., cfg.latent_dim :]


def decode(cfg: VAEConfig, params: Params, z: torch.Tensor) -> torch.Tensor:
    """z [R, B, n] -> x [R, B, d]. The true mixing is applied per run with torch.func.vmap,
    in the latents' dtype."""
    if cfg.decoder == "true_mixing":
        single = torch.func.vmap(lambda m, zr: true_mixing(cfg, m, zr))
        return single(mixing_params(params), z)
    if cfg.network == "conv":
        return conv.conv_decode(params, "dec", cfg.resolution, z)
    return mlp_forward(params, "dec", cfg.n_layers, z, cfg.slope)


def _codes(cfg: VAEConfig, prior_codes: torch.Tensor | None) -> torch.Tensor:
    if prior_codes is None:
        raise ValueError(f"prior {PER_RUN!r} needs the runs' prior codes (prior_codes)")
    return prior_codes


def to_latent(
    cfg: VAEConfig, y: torch.Tensor, prior_codes: torch.Tensor | None = None
) -> torch.Tensor:
    """Map the Gaussian variable y [R, ..., n] to the prior's support (sigmoid for bounded
    priors); with prior="per_run", each run's to its own prior's."""
    if cfg.prior == PER_RUN:
        return to_support_per_run(cfg.priors, _codes(cfg, prior_codes), y)
    return torch.sigmoid(y) if is_bounded(cfg.prior) else y


def prior_names(cfg: VAEConfig, runs: int, prior_codes: torch.Tensor | None = None) -> list[str]:
    """The prior of each of ``runs`` stacked runs, by name."""
    if cfg.prior == PER_RUN:
        return [cfg.priors[c] for c in _codes(cfg, prior_codes).long().tolist()]
    return [cfg.prior] * runs


def log_prior_of(
    cfg: VAEConfig, z: torch.Tensor, params: Params, prior_codes: torch.Tensor | None = None
) -> torch.Tensor:
    """Each run's summed log prior density at z [R, B, n] -> [R, B]."""
    if cfg.prior == PER_RUN:
        codes = _codes(cfg, prior_codes)
        return log_prior_per_run(cfg.priors, codes, z, params, cfg.prior_config)
    return log_prior(cfg.prior, z, params, cfg.prior_config)


def decoder_precision(cfg: VAEConfig, params: Params, gamma2: torch.Tensor) -> torch.Tensor:
    """The decoder precision [R] the runs use: the learned one, or the given per-run gamma2."""
    return params[LOG_GAMMA2].exp() if cfg.decoder_variance == "learned" else gamma2


def neg_elbo(
    cfg: VAEConfig,
    params: Params,
    x: torch.Tensor,
    eps: torch.Tensor,
    gamma2: torch.Tensor,
    beta: torch.Tensor,
    prior_codes: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per-run mean negative ELBO with one reparameterised sample and a Monte-Carlo KL.

    x [R, B, d], eps [R, B, n], gamma2 and beta [R] (gamma2 unused when the decoder precision is
    learned, see :func:`decoder_precision`), prior_codes [R] with prior="per_run". Returns the
    loss [R] and its parts (each [R, B]) for diagnostics. The Gaussian log-likelihood includes
    its normaliser."""
    mu, logvar = encode(cfg, params, x)
    y = mu + torch.exp(0.5 * logvar) * eps
    log_q = (-0.5 * (eps * eps + logvar + math.log(2 * math.pi))).sum(-1)
    # z before the log-determinant: the order the graph is built in sets the order autograd
    # sums y's gradient in, and so its float32 rounding (the recorded numbers depend on it)
    z = to_latent(cfg, y, prior_codes)
    bounded = tuple(map(is_bounded, cfg.run_prior_names))
    if any(bounded):
        # log |dz/dy| = log z(1-z) = log sigmoid(y) + log sigmoid(-y), in the stable form
        # -(softplus(-y) + softplus(y)); softplus's backward is ~10 % faster per step here.
        log_det = (F.softplus(-y) + F.softplus(y)).sum(-1)
        if not all(bounded):
            mine = bounded_per_run(cfg.priors, _codes(cfg, prior_codes))
            log_det = torch.where(mine, log_det, 0.0)
        log_q = log_q + log_det
    x_hat = decode(cfg, params, z)
    g2 = decoder_precision(cfg, params, gamma2)[:, None]
    d = x.shape[-1]
    sq_err = ((x - x_hat) ** 2).sum(-1)
    log_lik = -0.5 * g2 * sq_err - 0.5 * d * torch.log(2 * math.pi / g2)
    kl = log_q - log_prior_of(cfg, z, params, prior_codes)
    loss = -log_lik + beta[:, None] * kl
    parts = {"log_lik": log_lik, "kl": kl, "sq_err": sq_err, "z": z, "mu": mu, "logvar": logvar}
    return loss.mean(-1), parts


def decoder_jacobian(
    cfg: VAEConfig, params: Params, z: torch.Tensor, by_hand: bool = True
) -> torch.Tensor:
    """Jacobians of each run's decoder at latents z [R, N, n] -> [R, N, d, n] in forward mode
    (n tangents per sample), vectorised over samples and runs: torch.func.jacfwd, or for the
    MLP decoder with ``by_hand`` the same tangents written out (:func:`_mlp_decoder_jacobian`)."""
    if cfg.network == "conv":
        # in chunks of samples: the forward-mode intermediates are ~2 MiB per (run, sample)
        return conv.conv_decoder_jacobian(params, "dec", cfg.resolution, z, chunk=64)
    if cfg.decoder == "true_mixing":
        dec = mixing_params(params)

        def single(p: Params, zi: torch.Tensor) -> torch.Tensor:
            return true_mixing(cfg, p, zi)

    elif by_hand:
        return _mlp_decoder_jacobian(cfg, params, z)
    else:
        dec = {k: v for k, v in params.items() if k.startswith("dec.")}

        def single(p: Params, zi: torch.Tensor) -> torch.Tensor:
            return mlp_forward(p, "dec", cfg.n_layers, zi, cfg.slope)

    per_run = torch.func.vmap(torch.func.jacfwd(single, argnums=1), in_dims=(None, 0))
    return torch.func.vmap(per_run, in_dims=(0, 0))(dec, z)


def _mlp_decoder_jacobian(cfg: VAEConfig, params: Params, z: torch.Tensor) -> torch.Tensor:
    """The MLP decoder's Jacobians [R, N, d, n] by forward mode written out: the n tangents of
    each point pass the layers as torch.func.jacfwd passes them (the same products in the same
    order: bitwise its numbers on the CPU measured, and equal to round-off in the tests), at
    about a third of its cost."""
    runs, points, n = z.shape
    tangents, h = None, z
    for i in range(cfg.n_layers):
        w, b = params[f"dec.{i}.weight"], params[f"dec.{i}.bias"]
        if tangents is not None:
            tangents = torch.bmm(tangents, w)  # [R, N n, width]
        if i < cfg.n_layers - 1:
            pre = torch.baddbmm(b, h, w)
            slope = torch.where(pre > 0, 1.0, cfg.slope)[:, :, None]  # LeakyReLU's derivative
            # the first layer's tangent of coordinate k is row k of its weight
            first = tangents is None
            tangents = (
                w[:, None] * slope if first else tangents.view(*slope.shape[:2], n, -1) * slope
            )
            tangents = tangents.reshape(runs, points * n, -1)
            h = F.leaky_relu(pre, cfg.slope)
    if tangents is None:  # a linear decoder: the Jacobian is its weight at every point
        tangents = params["dec.0.weight"][:, None].expand(runs, points, n, -1)
    return tangents.reshape(runs, points, n, -1).transpose(2, 3)
