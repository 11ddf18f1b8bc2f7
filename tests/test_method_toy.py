"""A toy method that uses what the VAE does not: per-run learning rates with a per-run plateau
schedule, no validation split (checks on the full training set, in chunks), uint8 observations
converted per minibatch, segment labels as a per-sample input and per-run objective weights.

A linear autoencoder with a per-label output offset: x_hat = (x W_e + 0.1 eps) W_d + E[label],
loss = w_rec * mean squared error + w_l2 * ||W_e||^2. The ensemble and resume invariants run it
(tests/test_ensemble.py, tests/test_resume.py); here are its own checks."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from helpers import e1_data

from identvae.data import datasets
from identvae.methods.base import Batch, Part
from identvae.train.ensemble import RunSpec, TrainConfig, train_ensemble
from identvae.train.optim import RowAdam, RowPlateau

N_LABELS = 4
CHECK_CHUNK = 128  # samples per evaluation chunk


@dataclasses.dataclass(frozen=True)
class ToyAutoencoder:
    obs_dim: int = 3
    latent_dim: int = 2
    plateau_patience: int = 1

    train_metric = "train_loss"
    selection_key = "check_loss"
    check_part = "train"

    def config(self):
        return dataclasses.asdict(self)

    def init_params(self, generators, datasets, settings):
        d, k = self.obs_dim, self.latent_dim
        return {
            "enc": torch.stack([torch.randn(d, k, generator=g) * 0.5 for g in generators]),
            "dec": torch.stack([torch.randn(k, d, generator=g) * 0.5 for g in generators]),
            "offset": torch.zeros(len(generators), N_LABELS, d),
        }

    def is_trainable(self, name):
        return True

    def epoch_noise(self, generator, n_train):
        return torch.randn(n_train, self.latent_dim, generator=generator)

    def _errors(self, params, x, labels, noise):
        x = x.float() / 255.0  # uint8 on the device, converted per minibatch
        z = torch.bmm(x, params["enc"]) + 0.1 * noise
        offset = torch.gather(params["offset"], 1, labels[..., None].expand(-1, -1, self.obs_dim))
        return ((torch.bmm(z, params["dec"]) + offset - x) ** 2).mean(-1)  # [R, B]

    def loss(self, params, batch: Batch, settings):
        rec = self._errors(params, batch.x, batch.labels, batch.noise).mean(-1)
        l2 = (params["enc"] ** 2).sum((1, 2))
        return settings["w_rec"] * rec + settings["w_l2"] * l2

    @torch.no_grad()
    def evaluate(self, params, part: Part, data, settings, generators):
        total = torch.zeros(len(generators), device=part.x.device)
        for start in range(0, part.size, CHECK_CHUNK):
            rows = part.rows(data, start, start + CHECK_CHUNK)
            noise = torch.stack(
                [torch.randn(rows.x.shape[1], self.latent_dim, generator=g) for g in generators]
            ).to(rows.x.device)
            total += self._errors(params, rows.x, rows.labels, noise).sum(-1)
        check = total / part.size
        return [{"check_loss": float(v)} for v in check]

    def after_check(self, metrics, settings):
        return settings

    def training_settings(self, settings, epoch):
        return settings

    def selected_check_metrics(self, params, part, data, settings, generators):
        return [{"enc_norm": float(params["enc"][r].norm())} for r in range(len(generators))]

    def latents(self, params, part, data, generators):
        return {"mean": torch.bmm(part.rows(data).x.float() / 255.0, params["enc"]).numpy()}

    def make_optimizer(self, tensors, lr):
        return RowAdam(tensors, lr)

    def lr_schedule(self):
        return RowPlateau(factor=0.5, patience=self.plateau_patience)


def toy_dataset(seed: int, n: int = 600) -> datasets.Dataset:
    """E1 data quantised to uint8, every sample in the training part, with segment labels."""
    ds = datasets.generate(e1_data(n), seed)
    x = ds.observations
    scaled = (x - x.min(0)) / (x.max(0) - x.min(0))
    return dataclasses.replace(
        ds,
        observations=np.round(255 * scaled).astype(np.uint8),
        split=np.zeros(n, dtype=np.int8),
        labels=np.arange(n) % N_LABELS,
    )


def toy_runs() -> list[RunSpec]:
    return [
        RunSpec("a", "seed=1", 11, {"w_rec": 1.0, "w_l2": 1e-3}, lr=3e-2),
        RunSpec("b", "seed=2", 12, {"w_rec": 2.0, "w_l2": 0.0}, lr=1e-2),
        RunSpec("c", "seed=1", 13, {"w_rec": 1.0, "w_l2": 1e-1}),  # the chunk's lr
        RunSpec("d", "seed=2", 14, {"w_rec": 0.5, "w_l2": 1e-2}, lr=1e-1),
        RunSpec("bad", "seed=1", 15, {"w_rec": math.inf, "w_l2": 0.0}),  # diverges at once
    ]


TOY_TRAIN = TrainConfig(lr=3e-3, batch_size=64, max_epochs=14, val_every=1, patience=2)


@pytest.fixture(scope="module")
def toy_data():
    return {"seed=1": toy_dataset(1), "seed=2": toy_dataset(2)}


def test_the_toy_trains_without_a_validation_split_and_lowers_rates_on_plateaus(toy_data):
    results = train_ensemble(ToyAutoencoder(), TOY_TRAIN, toy_runs(), toy_data, **OPTS)
    assert [r.status for r in results] == ["ok"] * 4 + ["diverged"]
    results = results[:4]
    for res in results:
        first, best = res.history[0]["check_loss"], res.best["check_loss"]
        assert best < first  # it learns
        assert "enc_norm" in res.best  # the selected-check metrics reach the selected row
    # each run starts at its own rate (or the chunk's) and some plateau lowers one
    lrs = [[row["epoch_lr"] for row in res.history] for res in results]
    assert any(seq[-1] < seq[0] for seq in lrs), lrs
    assert all(
        math.isclose(seq[0], spec.lr or TOY_TRAIN.lr)
        for seq, spec in zip(lrs, toy_runs(), strict=False)
    )


def test_labels_reach_the_loss(toy_data):
    """Shuffled labels give another model: the loss reads each sample's own label."""
    shuffled = {
        k: dataclasses.replace(ds, labels=np.random.default_rng(0).permutation(ds.labels))
        for k, ds in toy_data.items()
    }
    runs = toy_runs()[:1]
    a = train_ensemble(ToyAutoencoder(), TOY_TRAIN, runs, toy_data, **OPTS)[0]
    b = train_ensemble(ToyAutoencoder(), TOY_TRAIN, runs, shuffled, **OPTS)[0]
    assert not torch.equal(a.state["offset"], b.state["offset"])


OPTS = {"device": "cpu", "progress": False}
