"""Every metric of one validation check, for all runs of an ensemble at once.

Definitions follow docs/papers/embrace-the-gap.md section 2: batch and full MCC (Pearson and
Spearman), batch-mean -Jacobian and local c_IMA of the learned decoder, and the self-consistency
diagnostics. Metrics too costly for every check (E4's ELBO gap, when the decoder is fixed to the
true mixing) come from :func:`selected_check_metrics`, once per run at its selected check."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from identvae.metrics.elbo_gap import GapSettings, elbo_gap
from identvae.metrics.ima import batch_mean_cima, batch_means, global_cima
from identvae.metrics.mcc import batch_mcc, mcc
from identvae.models.ensemble import Params
from identvae.models.priors import log_prior, log_prior_curvature, sample_prior
from identvae.models.vae import (
    VAEConfig,
    decode,
    decoder_jacobian,
    decoder_precision,
    encode,
    is_trainable,
    mixing_params,
    neg_elbo,
    prior_names,
    to_latent,
    true_mixing,
)


@torch.no_grad()
def evaluate_vae(
    cfg: VAEConfig,
    params: Params,
    x: torch.Tensor,
    sources: torch.Tensor,
    gamma2: torch.Tensor,
    beta: torch.Tensor,
    generators: list[torch.Generator],
    batch_size: int = 64,
    prior_codes: torch.Tensor | None = None,
    elbo_samples: int = 1,
    jacobian_by_hand: bool = True,
) -> list[dict[str, Any]]:
    """Metrics per run. x [R, N, d] and sources [R, N, n] of the validation set; one generator per
    run draws the posterior samples; prior_codes [R] with prior="per_run". Returns one dict of
    floats per run, with ``decoder_gamma2`` the decoder precision used (gamma2, or the learned
    one). With ``elbo_samples`` > 1, ``val_neg_elbo`` averages that many posterior samples per
    point; the extra ones are drawn after every other draw, so the other metrics (and, with 1,
    every number) are those of a single sample. ``jacobian_by_hand``: see
    :func:`identvae.models.vae.decoder_jacobian`."""
    runs, n_val = x.shape[:2]
    n = cfg.latent_dim
    dev = x.device
    priors = prior_names(cfg, runs, prior_codes)

    def posterior_noise() -> torch.Tensor:
        return torch.stack([torch.randn(n_val, n, generator=g) for g in generators]).to(dev)

    loss, parts = neg_elbo(cfg, params, x, posterior_noise(), gamma2, beta, prior_codes)
    precision = decoder_precision(cfg, params, gamma2)
    z = parts["z"]  # sampled latents, after the sigmoid for bounded priors
    mu, logvar = parts["mu"], parts["logvar"]
    z_mean = to_latent(cfg, mu, prior_codes)

    s_np, z_np, zm_np = (t.double().cpu().numpy() for t in (sources, z, z_mean))
    out: dict[str, np.ndarray] = {
        "val_neg_elbo": loss.double().cpu().numpy(),
        "val_rec_sq_err": parts["sq_err"].mean(1).double().cpu().numpy(),
        "val_kl": parts["kl"].mean(1).double().cpu().numpy(),
        "decoder_gamma2": precision.double().cpu().numpy(),
    }
    for method, suffix in (("pearson", ""), ("spearman", "_spearman")):
        out[f"mcc_batch{suffix}"] = np.asarray(batch_mcc(s_np, z_np, batch_size, method))
        out[f"mcc_full{suffix}"] = np.asarray(mcc(s_np, zm_np, method))

    jac = decoder_jacobian(cfg, params, z, jacobian_by_hand)  # [R, N, d, n] at the samples
    out["cima_batch"] = batch_mean_cima(jac, batch_size).cpu().numpy()
    out["cima_local"] = global_cima(jac).cpu().numpy()

    # Self-consistency: decoding the posterior mean should give back x ...
    mse_obs = ((x - decode(cfg, params, z_mean)) ** 2).mean((1, 2))
    out["mse_obs_decoded_mean_latents"] = mse_obs.double().cpu().numpy()
    out["gamma2_mle"] = (1.0 / mse_obs).double().cpu().numpy()
    # ... and encoding decoded prior samples should give back the latents.
    z0 = torch.stack(
        [
            sample_prior(prior, (n_val, n), g, cfg.prior_config)
            for prior, g in zip(priors, generators, strict=True)
        ]
    ).to(dev, torch.float32)
    z0_back = to_latent(cfg, encode(cfg, params, decode(cfg, params, z0))[0], prior_codes)
    out["mse_sources_mean_decoded_sources"] = ((z0 - z0_back) ** 2).mean((1, 2)).cpu().numpy()

    # Posterior variances against the self-consistency prediction
    # 1 / (-(log p0)'' + gamma2 ||Jbar_k||^2), Jbar the batch-mean decoder Jacobian.
    var = batch_means(logvar.exp(), batch_size, dim=1).mean(1)  # [R, n]
    col_norm2 = (batch_means(jac, batch_size, dim=1) ** 2).sum(-2)  # [R, batches, n]
    curvature = torch.tensor([log_prior_curvature(p) for p in priors], device=dev)
    predicted = 1.0 / (curvature[:, None, None] + precision[:, None, None] * col_norm2)
    predicted = predicted.mean(1)
    for k in range(n):
        out[f"latent_variance_{k}"] = var[:, k].double().cpu().numpy()
        out[f"predicted_variance_{k}"] = predicted[:, k].double().cpu().numpy()

    if elbo_samples > 1:
        losses = [loss.double()]
        for _ in range(elbo_samples - 1):
            extra = neg_elbo(cfg, params, x, posterior_noise(), gamma2, beta, prior_codes)[0]
            losses.append(extra.double())
        out["val_neg_elbo"] = torch.stack(losses).mean(0).cpu().numpy()

    return [{key: float(v[r]) for key, v in out.items()} for r in range(runs)]


def selected_check_metrics(
    cfg: VAEConfig,
    params: Params,
    sources: torch.Tensor,
    gamma2: torch.Tensor,
    generators: list[torch.Generator],
    gap: GapSettings,
    prior_codes: torch.Tensor | None = None,
) -> list[dict[str, float]]:
    """Metrics too costly for every check, computed once per run with its weights at the
    selected check (the trainer adds them to that check's history row). With the decoder fixed
    to the true mixing (E4) these are the ELBO-gap metrics of
    :func:`identvae.metrics.elbo_gap.elbo_gap` on the first ``gap.points`` validation sources
    [R, N, n], in float64; otherwise there are none. One dict per run."""
    if cfg.decoder != "true_mixing":
        return [{} for _ in generators]
    dev = sources.device
    enc = {k: v.double() for k, v in params.items() if is_trainable(k)}
    mix = {k: v.double() for k, v in mixing_params(params).items()}
    priors = prior_names(cfg, len(generators), prior_codes)
    rows = []
    for r, (gen, prior) in enumerate(zip(generators, priors, strict=True)):
        mix_r = {k: v[r] for k, v in mix.items()}
        enc_r = {k: v[r : r + 1] for k, v in enc.items()}

        def decoder(z: torch.Tensor, mix_r: Params = mix_r) -> torch.Tensor:
            return true_mixing(cfg, mix_r, z)

        def encoder(x: torch.Tensor, enc_r: Params = enc_r) -> tuple[torch.Tensor, torch.Tensor]:
            mu, logvar = encode(cfg, enc_r, x[None])
            return mu[0], logvar[0]

        def log_p0(z: torch.Tensor, enc_r: Params = enc_r, prior: str = prior) -> torch.Tensor:
            return log_prior(prior, z, enc_r, cfg.prior_config)

        # the run's own stream (so the numbers do not depend on the other runs), on the device
        seed = int(torch.randint(2**62, (1,), generator=gen))
        device_gen = torch.Generator(device=dev).manual_seed(seed)
        s = sources[r, : gap.points].double()
        rows.append(
            elbo_gap(
                s,
                decoder,
                log_p0,
                log_prior_curvature(prior),
                encoder,
                float(gamma2[r]),
                device_gen,
                gap,
            )
        )
    return rows
