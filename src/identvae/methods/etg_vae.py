"""The MLP VAE of "Embrace the Gap" as a training method (see ``identvae.methods.base``).

Model and loss are ``identvae.models.vae``, the check is ``identvae.metrics.evaluate``. Per-run
settings are ``gamma2`` (decoder precision) and ``beta`` (KL weight), and ``prior_code`` when the
runs of one ensemble have different priors (``VAEConfig.prior == "per_run"``). With
``decoder_variance="mle"`` each run's gamma2 is set at every check to that check's
``gamma2_mle`` for the following epochs (:meth:`EtgVAE.after_check`); with the decoder fixed to
the true mixing (E4) each finished run gets the ELBO-gap metrics at its selected check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from identvae.data.datasets import Dataset
from identvae.methods.base import Batch, Params, Part, Settings
from identvae.metrics.elbo_gap import GapSettings
from identvae.metrics.evaluate import evaluate_vae, selected_check_metrics
from identvae.metrics.mcc import abs_correlation
from identvae.models import vae, vae_grad
from identvae.models.vae import VAEConfig
from identvae.train.optim import FlatAdam, RowAdam, RowPlateau

#: The per-run setting that indexes ``VAEConfig.priors`` in an ensemble of mixed priors.
PRIOR_CODE = "prior_code"


@dataclass(frozen=True)
class EtgVAE:
    """The VAE method: its architecture, the batch size of its batch metrics, and the cost bounds
    of the selected-check ELBO-gap metrics (used only with a true-mixing decoder)."""

    model: VAEConfig
    metric_batch_size: int
    gap: GapSettings
    val_elbo_samples: int = 1
    check_points: int | None = None  # a check reads the first this many validation points
    gradients: str = "manual"  # "manual" (vae_grad, where it covers the model) | "autograd"
    lr_plateau: tuple[float, int] | None = None  # (factor, patience): a per-run schedule
    kl_warmup: tuple[int, float] | None = None  # (epochs, start): the KL weight's warm-up

    train_metric = "train_neg_elbo"
    selection_key = "val_neg_elbo"
    check_part = "val"

    @classmethod
    def from_settings(cls, model: VAEConfig, train: Mapping[str, Any]) -> EtgVAE:
        """The method of ``model`` with the metric settings of a validated ``train`` section."""
        gap = GapSettings(
            points=train["gap_points"],
            elbo_samples=train["gap_elbo_samples"],
            is_samples=train["gap_is_samples"],
            newton_steps=train["gap_newton_steps"],
        )
        # unset means 1 and all points (no schema defaults, so that existing chunk specs stay
        # as they were)
        return cls(
            model,
            train["metric_batch_size"],
            gap,
            train.get("val_elbo_samples", 1),
            train.get("check_points"),
            train.get("gradients", "manual"),
            _plateau(train.get("lr_plateau")),
            _warmup(train.get("kl_warmup")),
        )

    @property
    def by_hand(self) -> bool:
        """Whether training steps take the hand-written gradient (models.vae_grad)."""
        return self.gradients == "manual" and vae_grad.supports(self.model)

    def config(self) -> dict[str, Any]:
        model = asdict(self.model)
        if self.model.network == "mlp":  # (so that existing checkpoints still match)
            del model["network"], model["resolution"]
        config = {"model": model, "metric_batch_size": self.metric_batch_size}
        if self.val_elbo_samples != 1:  # (so that existing checkpoints still match)
            config["val_elbo_samples"] = self.val_elbo_samples
        if self.check_points is not None:
            config["check_points"] = self.check_points
        if self.by_hand:  # (autograd's checkpoints written before it do not resume here)
            config["gradients"] = "manual"
        if self.lr_plateau is not None:
            config["lr_plateau"] = list(self.lr_plateau)
        if self.kl_warmup is not None:
            config["kl_warmup"] = list(self.kl_warmup)
        return config | {"gap": asdict(self.gap)}

    def init_params(
        self,
        generators: Sequence[torch.Generator],
        datasets: Sequence[Dataset],
        settings: Sequence[Mapping[str, float]],
    ) -> Params:
        mixings = None
        if self.model.decoder == "true_mixing":
            mixings = [(ds.mixing_name, ds.mixing_params) for ds in datasets]
        gamma2 = [s["gamma2"] for s in settings]
        return vae.init_vae(self.model, list(generators), mixings, gamma2)

    def is_trainable(self, name: str) -> bool:
        return vae.is_trainable(name)

    def epoch_noise(self, generator: torch.Generator, n_train: int) -> torch.Tensor:
        return torch.randn(n_train, self.model.latent_dim, generator=generator)

    def loss(self, params: Params, batch: Batch, settings: Settings) -> torch.Tensor:
        loss, _ = vae.neg_elbo(
            self.model,
            params,
            vae.as_input(batch.x),
            batch.noise,
            settings["gamma2"],
            settings["beta"],
            settings.get(PRIOR_CODE),
        )
        return loss

    def loss_and_grad(
        self, params: Params, batch: Batch, settings: Settings
    ) -> tuple[torch.Tensor, Params] | None:
        if not self.by_hand:
            return None
        return vae_grad.neg_elbo_and_grad(
            self.model,
            params,
            batch.x,
            batch.noise,
            settings["gamma2"],
            settings["beta"],
            settings.get(PRIOR_CODE),
        )

    def evaluate(
        self,
        params: Params,
        part: Part,
        data: torch.Tensor,
        settings: Settings,
        generators: Sequence[torch.Generator],
    ) -> list[dict[str, float]]:
        rows = part.rows(data, 0, self.check_points)
        return evaluate_vae(
            self.model,
            params,
            vae.as_input(rows.x),
            rows.sources,
            settings["gamma2"],
            settings["beta"],
            list(generators),
            self.metric_batch_size,
            settings.get(PRIOR_CODE),
            self.val_elbo_samples,
            # autograd: every derivative by torch, as the results recorded before
            jacobian_by_hand=self.gradients == "manual",
        )

    def after_check(self, metrics: list[dict[str, float]], settings: Settings) -> Settings:
        if self.model.decoder_variance != "mle":
            return settings
        gamma2 = torch.tensor(
            [row["gamma2_mle"] for row in metrics],
            dtype=torch.float32,
            device=settings["gamma2"].device,
        )
        return settings | {"gamma2": gamma2}

    def training_settings(self, settings: Settings, epoch: int) -> Settings:
        """During a KL warm-up of E epochs from weight w0, epoch e (1-based) trains with each
        run's beta times w0 ** (1 - (e - 1) / E); from epoch E + 1 on, with beta itself."""
        if self.kl_warmup is None or epoch > self.kl_warmup[0]:
            return settings
        epochs, start = self.kl_warmup
        return settings | {"beta": settings["beta"] * start ** (1 - (epoch - 1) / epochs)}

    def selected_check_metrics(
        self,
        params: Params,
        part: Part,
        data: torch.Tensor,
        settings: Settings,
        generators: Sequence[torch.Generator],
    ) -> list[dict[str, float]]:
        if self.model.decoder == "mlp":
            return [{} for _ in generators]
        return selected_check_metrics(
            self.model,
            params,
            part.rows(data).sources,
            settings["gamma2"].cpu(),
            list(generators),
            self.gap,
            settings.get(PRIOR_CODE),
        )

    @torch.no_grad()
    def latents(
        self, params: Params, part: Part, data: torch.Tensor, generators: Sequence[torch.Generator]
    ) -> dict[str, np.ndarray]:
        """Posterior means and one posterior sample per point, in the prior's support."""
        rows = part.rows(data)
        mu, logvar = vae.encode(self.model, params, vae.as_input(rows.x).float())
        eps = torch.stack([torch.randn(mu.shape[1:], generator=g) for g in generators])
        sample = mu + torch.exp(0.5 * logvar) * eps.to(mu.device)
        return {
            "mean": vae.to_latent(self.model, mu).cpu().numpy(),
            "sample": vae.to_latent(self.model, sample).cpu().numpy(),
        }

    @torch.no_grad()
    def pictures(
        self, params: Params, part: Part, data: torch.Tensor, shown: int, steps: int
    ) -> dict[str, np.ndarray]:
        """What an image model learned, for one run ([1, ...] parameters): its first ``shown``
        images [k, C, H, W], their reconstructions (the decoded posterior means, clipped to
        [0, 1]), and a traversal [n, steps, C, H, W]: latent i swept over ``steps`` values from
        the 2nd to the 98th percentile of its posterior means over the part, the others held at
        the first image's posterior mean; and the |correlation| [n_sources, n] of each true
        factor with each latent's posterior mean over the part. Images only (uint8
        observations)."""
        rows = part.rows(data)
        x = rows.x
        if x.dtype != torch.uint8:
            raise ValueError("pictures need image observations (uint8 [R, N, C, H, W])")
        shape = x.shape[2:]
        chunks = [
            vae.encode(self.model, params, vae.as_input(x[:, i : i + 1024]).float())[0]
            for i in range(0, x.shape[1], 1024)
        ]
        means = vae.to_latent(self.model, torch.cat(chunks, 1))[0]  # [N, n]
        images = vae.as_input(x[:, :shown]).float()
        recon = vae.decode(self.model, params, means[None, :shown]).clamp(0.0, 1.0)
        quantiles = torch.tensor([0.02, 0.98], dtype=means.dtype, device=means.device)
        low, high = torch.quantile(means, quantiles, dim=0)
        grid = low + (high - low) * torch.linspace(0.0, 1.0, steps, device=means.device)[:, None]
        n = means.shape[1]
        z = means[0].expand(n, steps, n).clone()  # [latent swept, step, n]
        for i in range(n):
            z[i, :, i] = grid[:, i]
        traversal = vae.decode(self.model, params, z.reshape(1, n * steps, n)).clamp(0.0, 1.0)
        return {
            "images": images[0].reshape(shown, *shape).cpu().numpy(),
            "reconstructions": recon[0].reshape(shown, *shape).cpu().numpy(),
            "traversal": traversal[0].reshape(n, steps, *shape).cpu().numpy(),
            "traversal_values": grid.T.cpu().numpy(),
            "correlation": abs_correlation(rows.sources[0].cpu().numpy(), means.cpu().numpy()),
        }

    def make_optimizer(
        self, tensors: list[torch.Tensor], lr: torch.Tensor
    ) -> torch.optim.Optimizer:
        if self.lr_plateau is not None:  # per-run rates
            return RowAdam(tensors, lr)
        # One shared constant rate: torch's foreach Adam (the numbers of all results so far),
        # computed on one flat buffer.
        if not bool((lr == lr[0]).all()):
            raise ValueError("the VAE method trains the runs of one chunk at one learning rate")
        return FlatAdam(tensors, lr=float(lr[0]))

    def lr_schedule(self) -> RowPlateau | None:
        if self.lr_plateau is None:
            return None
        factor, patience = self.lr_plateau
        return RowPlateau(factor=factor, patience=patience)


def _plateau(section: Mapping[str, Any] | None) -> tuple[float, int] | None:
    """The (factor, patience) of a validated ``train.lr_plateau`` section, if one is set."""
    if section is None:
        return None
    return float(section["factor"]), int(section["patience"])


def _warmup(section: Mapping[str, Any] | None) -> tuple[int, float] | None:
    """The (epochs, start) of a validated ``train.kl_warmup`` section, if one is set and has
    epochs (0 epochs: none, so a preset can switch off a warm-up it inherits)."""
    if section is None or section["epochs"] == 0:
        return None
    return int(section["epochs"]), float(section["start"])
