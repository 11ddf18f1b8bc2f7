"""What a method gives the ensemble training loop (``identvae.train.ensemble``).

The loop owns minibatch order, noise streams, checks, early stopping, dropping finished or
diverged runs, checkpoints and progress; a method owns its parameters, loss, check metrics and
optimiser. Everything a method handles is stacked along a leading run axis [R, ...], and each
run's loss and metrics must depend only on that run's row, so runs trained together equal runs
trained alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from identvae.data.datasets import Dataset

Params = dict[str, torch.Tensor]
#: Per-run settings tensors [R] (gamma2, beta, objective weights, ...), float32 on the device.
Settings = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Batch:
    """One minibatch of every stacked run, as stored (e.g. uint8 images: the method converts)."""

    x: torch.Tensor  # [R, B, ...]
    noise: torch.Tensor | None  # [R, B, ...] the run's own draws, see Method.epoch_noise
    labels: torch.Tensor | None  # [R, B] segment labels, when the datasets carry them


@dataclass(frozen=True)
class Part:
    """One split part (train or val) of a chunk's datasets, on the device, indexed by dataset.

    A check reads it through :meth:`rows`, whole or in chunks along the sample axis, so large
    observations (images) need not be gathered for every run at once."""

    x: torch.Tensor  # [datasets, N, ...] as stored
    sources: torch.Tensor  # [datasets, N, n] float32
    labels: torch.Tensor | None  # [datasets, N] or None

    @property
    def size(self) -> int:
        return self.x.shape[1]

    def rows(self, data: torch.Tensor, start: int = 0, stop: int | None = None) -> Part:
        """Samples [start, stop) of each run's dataset (``data`` [R]: dataset index per run)."""
        sl = slice(start, stop)
        labels = None if self.labels is None else self.labels[data, sl]
        return Part(self.x[data, sl], self.sources[data, sl], labels)


class Method(Protocol):
    """A trainable model family of stacked runs (see the module docstring)."""

    #: History column of each epoch's mean training loss, e.g. "train_neg_elbo".
    train_metric: str
    #: Check metric that selects a run's reported check (lower is better); a non-finite value
    #: marks the run diverged. None: the last check is the reported one and runs never stop
    #: early (protocols that report the model after training).
    selection_key: str | None
    #: Part the checks evaluate: "val", or "train" for protocols without a validation split.
    check_part: str

    def config(self) -> dict[str, Any]:
        """The method's settings as JSON-able data (part of a checkpoint's fingerprint)."""
        ...

    def init_params(
        self,
        generators: Sequence[torch.Generator],
        datasets: Sequence[Dataset],
        settings: Sequence[Mapping[str, float]],
    ) -> Params:
        """Initial parameters [R, ...] (CPU), run r drawn from ``generators[r]`` alone;
        ``datasets[r]`` and ``settings[r]`` are run r's dataset and per-run settings."""
        ...

    def is_trainable(self, name: str) -> bool:
        """Whether the parameter ``name`` is optimised (fixed ones are never given to it)."""
        ...

    def epoch_noise(self, generator: torch.Generator, n_train: int) -> torch.Tensor | None:
        """One run's noise for a whole epoch [n_train, ...] from its training generator (drawn
        after the epoch's permutation), or None when the loss needs none."""
        ...

    def loss(self, params: Params, batch: Batch, settings: Settings) -> torch.Tensor:
        """Per-run mean loss [R] of one minibatch."""
        ...

    def loss_and_grad(
        self, params: Params, batch: Batch, settings: Settings
    ) -> tuple[torch.Tensor, Params] | None:
        """Optional (a method without it is differentiated by autograd): the per-run mean loss
        [R] and its gradient for each trainable parameter written out by hand (a faster step),
        or None to let autograd differentiate :meth:`loss` after all."""
        ...

    def evaluate(
        self,
        params: Params,
        part: Part,
        data: torch.Tensor,
        settings: Settings,
        generators: Sequence[torch.Generator],
    ) -> list[dict[str, float]]:
        """The check: one metrics dict per run, on ``part`` read through ``part.rows(data)``,
        drawing from each run's evaluation generator."""
        ...

    def after_check(self, metrics: list[dict[str, float]], settings: Settings) -> Settings:
        """The per-run settings for the epochs after a check (e.g. an MLE reset of gamma2)."""
        ...

    def training_settings(self, settings: Settings, epoch: int) -> Settings:
        """The per-run settings the minibatch steps of ``epoch`` (1-based) train with, e.g. a
        KL weight warming up; checks and selection always use ``settings`` themselves."""
        ...

    def selected_check_metrics(
        self,
        params: Params,
        part: Part,
        data: torch.Tensor,
        settings: Settings,
        generators: Sequence[torch.Generator],
    ) -> list[dict[str, float]]:
        """Metrics too costly for every check, once per finished run from its selected weights
        (``settings`` are the runs' initial ones); empty dicts when there are none."""
        ...

    def latents(
        self,
        params: Params,
        part: Part,
        data: torch.Tensor,
        generators: Sequence[torch.Generator],
    ) -> dict[str, np.ndarray]:
        """The representations the metrics read, e.g. ``mean`` (posterior means) and ``sample``
        (one posterior sample per point), each [R, N, n], of ``part`` read through
        ``part.rows(data)``; for figures that draw latents."""
        ...

    def make_optimizer(
        self, tensors: list[torch.Tensor], lr: torch.Tensor
    ) -> torch.optim.Optimizer:
        """The optimiser of the trainable tensors [R, ...]; ``lr`` [R] float64 on the CPU is each
        run's current learning rate. It must be elementwise (rows independent) and keep its
        per-tensor state in ``opt.state[tensor]`` (tensors [R, ...] or scalars)."""
        ...

    def lr_schedule(self) -> PlateauSchedule | None:
        """The per-run learning-rate schedule, stepped once per epoch on each run's mean training
        loss, or None for a constant rate."""
        ...


class PlateauSchedule(Protocol):
    """A per-run learning-rate schedule (see identvae.train.optim.RowPlateau)."""

    def init_state(self, lr: torch.Tensor) -> dict[str, torch.Tensor]: ...

    def step(
        self, state: dict[str, torch.Tensor], lr: torch.Tensor, loss: torch.Tensor
    ) -> torch.Tensor: ...
