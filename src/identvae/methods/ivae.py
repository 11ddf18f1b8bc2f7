"""The iVAE family as a training method (see ``identvae.methods.base``).

Model and objective are ``identvae.models.ivae``. Per-run settings are the objective's weights
(``rec_weight``, ``mi_weight``, ``tc_weight``, ``kl_weight`` = a, b, c, d), so an iVAE with the
official weights and one with the plain ELBO share a chunk, as do the VAE, the β-VAE and the
β-TC-VAE. Each run has its own learning rate, stepped per epoch by its own ReduceLROnPlateau.

The iVAE protocol (docs/papers/ivae.md section 4) has no held-out split: checks read the full
training set, once per epoch for training curves, and the reported check is the last one (the paper
reports the MCC after training; there is no early stopping)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from identvae.data.datasets import Dataset
from identvae.methods.base import Batch, Params, Part, Settings
from identvae.methods.pair_tests import PairTests, fit_tests
from identvae.metrics.mcc import mcc
from identvae.models import ivae
from identvae.models.ivae import IVAEConfig
from identvae.train.optim import RowAdam, RowPlateau

#: The per-run objective weights (a, b, c, d), in the order of the spec's formula.
WEIGHT_KEYS = ("rec_weight", "mi_weight", "tc_weight", "kl_weight")
#: Optional per-run settings: a run's own Gaussian decoder variance (else the chunk's), and
#: whether its model sees whitened observations (1) or x itself (0, the default).
DECODER_VARIANCE, WHITEN = "decoder_variance", "whiten"


@dataclass(frozen=True)
class IVAEMethod:
    """The iVAE-family method: its architecture, the training set size (for the MWS estimator),
    the plateau schedule and the sample chunk of a check."""

    model: IVAEConfig
    dataset_size: int
    lr_factor: float = 0.1
    lr_patience: int = 0
    check_chunk: int = 8192
    pair_tests: PairTests | None = None  # NonSENS: tests at the end of each pair fit
    #: the checks over training read this many evenly spaced points (None: all); the reported
    #: last check is computed again on every point (``selected_check_metrics``)
    check_points: int | None = None

    train_metric = "train_loss"
    selection_key = None  # the last check is the reported one
    check_part = "train"

    def config(self) -> dict[str, Any]:
        config = asdict(self) | {"model": asdict(self.model)}
        if self.pair_tests is None:  # so that checkpoints written before NonSENS still resume
            del config["pair_tests"]
        if self.check_points is None:  # likewise for those written before check_points
            del config["check_points"]
        return config

    def init_params(
        self,
        generators: Sequence[torch.Generator],
        datasets: Sequence[Dataset],
        settings: Sequence[Mapping[str, float]],
    ) -> Params:
        """The networks (each run from its generator) and each run's input transform: PCA
        whitening of its dataset's training part where its ``whiten`` setting is 1 (of its
        ``latent_dim`` largest principal directions, see ``ivae.whitening``)."""
        params = ivae.init_ivae(self.model, list(generators))
        whiten = [bool(s.get(WHITEN, 0.0)) for s in settings]
        if any(whiten):
            observations = [ds.part("train")[1] for ds in datasets]
            params |= ivae.whitening(observations, whiten, self.model.latent_dim)
        return params

    def is_trainable(self, name: str) -> bool:
        return not name.startswith("whiten.")

    def epoch_noise(self, generator: torch.Generator, n_train: int) -> torch.Tensor:
        return torch.randn(n_train, self.model.latent_dim, generator=generator)

    def _weights(self, settings: Settings) -> torch.Tensor:
        return torch.stack([settings[k] for k in WEIGHT_KEYS], dim=-1)

    def loss(self, params: Params, batch: Batch, settings: Settings) -> torch.Tensor:
        weights = self._weights(settings)
        t = ivae.terms(
            self.model,
            params,
            batch.x.float(),
            batch.labels,
            batch.noise,
            self.dataset_size,
            ivae.needs_marginals(weights),
            settings.get(DECODER_VARIANCE),
        )
        return ivae.weighted_loss(t, weights)

    def _posterior(self, params: Params, part: Part, data: torch.Tensor):
        """Posterior means and log-variances [R, N, n] over ``part``, in chunks of samples."""
        means, logvars = [], []
        for start in range(0, part.size, self.check_chunk):
            rows = part.rows(data, start, start + self.check_chunk)
            u = ivae.one_hot(self.model, rows.labels)
            x = ivae.observe(params, rows.x.float())
            mean, logvar = ivae.encode(self.model, params, x, u)
            means.append(mean)
            logvars.append(logvar)
        return torch.cat(means, 1), torch.cat(logvars, 1)

    def _posterior_sample(self, params: Params, part: Part, data: torch.Tensor, generators):
        """Means, log-variances and one posterior sample per point [R, N, n], the sample drawn
        from each run's own (evaluation) generator."""
        mean, logvar = self._posterior(params, part, data)
        draws = [torch.randn(part.size, self.model.latent_dim, generator=g) for g in generators]
        eps = torch.stack(draws).to(mean.device)
        return mean, logvar, mean + torch.exp(0.5 * logvar) * eps

    @torch.no_grad()
    def evaluate(
        self,
        params: Params,
        part: Part,
        data: torch.Tensor,
        settings: Settings,
        generators: Sequence[torch.Generator],
    ) -> list[dict[str, float]]:
        """A check over training: :meth:`metrics` on ``check_points`` evenly spaced points of
        the part (every point when None), a fixed subsample the spec allows for the curves."""
        if self.check_points is not None and part.size > self.check_points:
            keep = torch.linspace(0, part.size - 1, self.check_points).round().long()
            labels = None if part.labels is None else part.labels[:, keep]
            part = Part(part.x[:, keep], part.sources[:, keep], labels)
        return self.metrics(params, part, data, settings, generators)

    @torch.no_grad()
    def metrics(
        self,
        params: Params,
        part: Part,
        data: torch.Tensor,
        settings: Settings,
        generators: Sequence[torch.Generator],
    ) -> list[dict[str, float]]:
        """MCC of one posterior sample and of the posterior mean on the whole part, and the plain
        negative ELBO per point of x (one sample, analytic KL; a run that sees whitened x gets
        log |det W| back, so that its ELBO is comparable with a run on x itself)."""
        mean, logvar, z = self._posterior_sample(params, part, data, generators)
        neg_elbo = torch.zeros(len(generators), device=mean.device, dtype=torch.float64)
        for start in range(0, part.size, self.check_chunk):
            stop = start + self.check_chunk
            rows = part.rows(data, start, stop)
            p_mean, p_logvar = ivae.prior_of_labels(self.model, params, rows.labels)
            log_px = ivae.log_likelihood(
                self.model,
                ivae.observe(params, rows.x.float()),
                ivae.decode(self.model, params, z[:, start:stop]),
                settings.get(DECODER_VARIANCE),
            )
            kl = ivae.kl_to_prior(mean[:, start:stop], logvar[:, start:stop], p_mean, p_logvar)
            neg_elbo += (kl - log_px).double().sum(-1)
        neg_elbo = neg_elbo / part.size - ivae.log_det_observe(params).to(neg_elbo.device)
        sources = part.rows(data).sources.cpu().numpy()
        rows = []
        for r in range(len(generators)):
            rows.append(
                {
                    "mcc": _mcc(sources[r], z[r]),
                    "mcc_mean": _mcc(sources[r], mean[r]),
                    "neg_elbo": float(neg_elbo[r]),
                }
            )
        return rows

    def after_check(self, metrics: list[dict[str, float]], settings: Settings) -> Settings:
        return settings

    def training_settings(self, settings: Settings, epoch: int) -> Settings:
        return settings

    @torch.no_grad()
    def selected_check_metrics(self, params, part, data, settings, generators):
        """The reported (last) check on every point when the checks read a subsample, and
        NonSENS's tests of the observed pair against the posterior means (n̂)."""
        out = [{} for _ in generators]
        if self.check_points is not None and part.size > self.check_points:
            out = self.metrics(params, part, data, settings, generators)
        if self.pair_tests is None:
            return out
        mean, _ = self._posterior(params, part, data)
        rows = part.rows(data)
        tests = fit_tests(self.pair_tests, rows.x, mean.cpu().numpy(), rows.labels, generators)
        return [a | b for a, b in zip(out, tests, strict=True)]

    @torch.no_grad()
    def latents(
        self, params: Params, part: Part, data: torch.Tensor, generators: Sequence[torch.Generator]
    ) -> dict[str, np.ndarray]:
        """Posterior means and one posterior sample per point [R, N, n]."""
        mean, _, sample = self._posterior_sample(params, part, data, generators)
        return {"mean": mean.cpu().numpy(), "sample": sample.cpu().numpy()}

    def make_optimizer(self, tensors: list[torch.Tensor], lr: torch.Tensor) -> RowAdam:
        return RowAdam(tensors, lr)

    def lr_schedule(self) -> RowPlateau:
        return RowPlateau(factor=self.lr_factor, patience=self.lr_patience)


def _mcc(sources: np.ndarray, latents: torch.Tensor) -> float:
    """MCC, or NaN without true sources (a user's data file may have none)."""
    if sources.shape[-1] == 0:
        return float("nan")
    return float(mcc(sources, latents.cpu().numpy()))
