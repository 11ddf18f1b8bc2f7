"""Exact-likelihood nonlinear ICA as a training method (see ``identvae.methods.base``): the iVAE's
generative model in its noise-free limit, fitted by its likelihood instead of the ELBO.

The model is the iVAE's: latents n with a conditional prior given the segment u (a zero-mean
Gaussian with a learned standard deviation per segment and component) and an invertible mixing
x = f(n). Here f⁻¹ = g is zuko's neural spline flow (``transforms`` masked autoregressive
rational-quadratic transforms in alternating column orders, hidden layers ``hidden``; the columns
enter in a random order of each restart's own), so the loss is the exact negative log-likelihood

    -log p(x | u) = -log p(g(x) | u) - log |det ∂g/∂x|,

and n̂ = g(x). Nothing is approximated, so the ELBO's gap (docs/papers/embrace-the-gap.md) does not
bias the fit. zuko's modules hold one network; the runs of a chunk are stacked with torch.func
(``stack_module_state``, ``vmap`` over ``functional_call``), so a run trained together equals it
trained alone.

A check records the negative log-likelihood per point and, where the true sources are known,
the MCC of n̂ against them; for NonSENS, the finished fit's n̂ is tested against every pair of
variables (``PairTests.run_joint``). The reported check is the last one. The learning rate
anneals to 0 over the training's epochs (cosine): at a constant rate the minibatch noise keeps
the fit from settling."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch
import zuko

from identvae.data.datasets import Dataset
from identvae.methods.base import Batch, Params, Part, Settings
from identvae.methods.pair_tests import PairTests, seed_for_tests
from identvae.metrics.mcc import mcc
from identvae.train.optim import RowAdam, RowCosine

#: Prefix of the stacked tensors that are not trained (the flow's masks and column orders).
BUFFER = "buffer."
_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class FlowConfig:
    """The architecture shared by all runs of one ensemble."""

    dim: int  # observed variables = latents
    n_segments: int
    transforms: int = 4
    hidden: tuple[int, ...] = (64, 64)
    bins: int = 8
    #: zuko's ``passes``: None, fully autoregressive transforms (each column conditioned on all
    #: before it in the transform's order); 2, coupling transforms (one half on the other)
    passes: int | None = None

    def __post_init__(self) -> None:
        if self.dim < 2 or self.transforms < 1 or self.n_segments < 1:
            raise ValueError(f"FlowConfig needs dim >= 2, transforms >= 1, segments >= 1: {self}")


class _Flow(torch.nn.Module):
    """One run's model: the spline flow g and the prior's log standard deviations [S, d]."""

    def __init__(self, config: FlowConfig):
        super().__init__()
        flow = zuko.flows.NSF(
            features=config.dim,
            transforms=config.transforms,
            bins=config.bins,
            hidden_features=config.hidden,
            passes=config.passes,
        )
        self.g = flow.transform
        self.log_std = torch.nn.Parameter(torch.zeros(config.n_segments, config.dim))
        # the transforms alternate the natural and the reversed column order; the columns enter
        # in a random order of the run's own, since a user's columns (hippo6's) may be in causal
        # order, which the fit must not be handed
        self.register_buffer("columns", torch.randperm(config.dim))

    def forward(self, x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """n̂ = g(x) [B, d] and log p(x | u) [B]."""
        n_hat, log_det = self.g().call_and_ladj(x[..., self.columns])
        log_std = self.log_std[u]
        z = n_hat * torch.exp(-log_std)
        log_prior = (-0.5 * z**2 - log_std - 0.5 * _LOG_2PI).sum(-1)
        return n_hat, log_prior + log_det


@dataclass(frozen=True)
class FlowMethod:
    """The flow's architecture, its restarts per run, its schedule and, for NonSENS, the tests.

    A run holds ``restarts`` flows of its own (stacked tensors [R, K, ...]), trained side by side
    on the same minibatches, each by its own likelihood (the loss is their mean); what a run
    reports (its n̂, metrics and tests) is the restart of the lowest negative log-likelihood on
    the data, chosen without ground truth. Restarts matter: the fit depends on the order in which
    the columns enter the autoregressive transforms."""

    model: FlowConfig
    restarts: int = 1
    #: the epochs of training: the rate anneals from each run's own to 0 over them (cosine);
    #: None keeps it constant
    anneal_epochs: int | None = None
    check_chunk: int = 8192
    pair_tests: PairTests | None = None  # NonSENS: every pair's tests at the end of the fit

    train_metric = "train_loss"  # the restarts' mean negative log-likelihood
    selection_key = None  # the last check is the reported one
    check_part = "train"

    def config(self) -> dict[str, Any]:
        config = asdict(self)
        if self.model.passes is None:  # so that checkpoints written before ``passes`` resume
            del config["model"]["passes"]
        return config

    @cached_property
    def _shape(self) -> torch.nn.Module:
        """A parameterless copy of the module: functional_call fills in each run's tensors."""
        return _Flow(self.model).to("meta")

    def init_params(
        self,
        generators: Sequence[torch.Generator],
        datasets: Sequence[Dataset],
        settings: Sequence[Mapping[str, float]],
    ) -> Params:
        """Each restart's module initialised by torch's global generator, seeded from its run's
        generator (restart after restart)."""
        flows = []
        for generator in generators:
            for _ in range(self.restarts):
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
                    flows.append(_Flow(self.model))
        params, buffers = torch.func.stack_module_state(flows)
        shape = (len(generators), self.restarts)
        stacked = {k: v.detach().reshape(*shape, *v.shape[1:]) for k, v in params.items()}
        return stacked | {BUFFER + k: v.reshape(*shape, *v.shape[1:]) for k, v in buffers.items()}

    def is_trainable(self, name: str) -> bool:
        return not name.startswith(BUFFER)

    def epoch_noise(self, generator: torch.Generator, n_train: int) -> None:
        return None

    def _call(self, params: Params, x: torch.Tensor, u: torch.Tensor):
        """n̂ [R, K, B, d] and log p(x | u) [R, K, B] of every restart of every run on the run's
        own x [R, B, d] and u [R, B]."""
        weights = {k: v for k, v in params.items() if not k.startswith(BUFFER)}
        buffers = {k.removeprefix(BUFFER): v for k, v in params.items() if k.startswith(BUFFER)}
        shape = self._shape  # built outside vmap: building draws the column orders

        def one(w, b, xr, ur):
            return torch.func.functional_call(shape, (w, b), (xr, ur))

        per_restart = torch.vmap(one, in_dims=(0, 0, None, None))
        return torch.vmap(per_restart)(weights, buffers, x, u)

    def loss(self, params: Params, batch: Batch, settings: Settings) -> torch.Tensor:
        _, log_p = self._call(params, batch.x.float(), batch.labels.long())
        return -log_p.mean(-1).mean(-1)

    def loss_and_grad(self, params: Params, batch: Batch, settings: Settings) -> None:
        return None

    @torch.no_grad()
    def _best(self, params: Params, part: Part, data: torch.Tensor):
        """Each run's best restart over ``part``: its n̂ [R, N, d] and negative log-likelihood
        per point [R], and every restart's [R, K]."""
        n_hats, nll = [], 0.0
        for start in range(0, part.size, self.check_chunk):
            rows = part.rows(data, start, start + self.check_chunk)
            n_hat, log_p = self._call(params, rows.x.float(), rows.labels.long())
            n_hats.append(n_hat)
            nll = nll - log_p.double().sum(-1)
        nll = nll / part.size
        best = torch.nan_to_num(nll, nan=math.inf).argmin(-1)
        runs = torch.arange(len(best), device=best.device)
        return torch.cat(n_hats, 2)[runs, best], nll[runs, best], nll

    def evaluate(
        self,
        params: Params,
        part: Part,
        data: torch.Tensor,
        settings: Settings,
        generators: Sequence[torch.Generator],
    ) -> list[dict[str, float]]:
        """The best restart's negative log-likelihood per point (every restart's, space
        separated) and its MCC, Pearson's (the spec's) and Spearman's (blind to the monotone
        map a Gaussian prior puts on Laplace disturbances), NaN without sources."""
        n_hat, nll, every = self._best(params, part, data)
        sources = part.rows(data).sources.cpu().numpy()
        rows = []
        for r in range(len(generators)):
            row = {
                "nll": float(nll[r]),
                "nll_restarts": " ".join(f"{v:.4f}" for v in every[r].tolist()),
                "mcc": np.nan,
                "mcc_spearman": np.nan,
            }
            if sources.shape[-1] > 0:
                latents = n_hat[r].cpu().numpy()
                row["mcc"] = float(mcc(sources[r], latents))
                row["mcc_spearman"] = float(mcc(sources[r], latents, method="spearman"))
            rows.append(row)
        return rows

    def after_check(self, metrics: list[dict[str, float]], settings: Settings) -> Settings:
        return settings

    def training_settings(self, settings: Settings, epoch: int) -> Settings:
        return settings

    def selected_check_metrics(self, params, part, data, settings, generators):
        """NonSENS's tests of every pair of variables against their matched components of n̂
        (``PairTests.run_joint``), when the method has tests."""
        if self.pair_tests is None:
            return [{} for _ in generators]
        n_hat, _, _ = self._best(params, part, data)
        rows = part.rows(data)
        x, labels = rows.x.float().cpu().numpy(), rows.labels.cpu().numpy()
        n_hat = n_hat.cpu().numpy()
        return [
            self.pair_tests.run_joint(x[r], n_hat[r], labels[r], seed_for_tests(g))
            for r, g in enumerate(generators)
        ]

    def latents(
        self, params: Params, part: Part, data: torch.Tensor, generators: Sequence[torch.Generator]
    ) -> dict[str, np.ndarray]:
        """The best restart's n̂ = g(x) [R, N, d] as ``mean`` (a flow has no posterior spread)."""
        n_hat, _, _ = self._best(params, part, data)
        return {"mean": n_hat.cpu().numpy()}

    def make_optimizer(self, tensors: list[torch.Tensor], lr: torch.Tensor) -> RowAdam:
        return RowAdam(tensors, lr)

    def lr_schedule(self) -> RowCosine | None:
        return None if self.anneal_epochs is None else RowCosine(self.anneal_epochs)
