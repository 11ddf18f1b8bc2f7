"""The ensemble invariant: runs trained together give the same numbers as each trained alone,
including runs that stop early at different checks and a run that diverges."""

import math

import pytest
import torch
from helpers import e1_data

from identvae.data import datasets
from identvae.models.vae import VAEConfig
from identvae.train.ensemble import RunSpec, TrainConfig, train_ensemble

DATA = e1_data(800)
MODEL = VAEConfig(obs_dim=3, latent_dim=3, prior="uniform")
TRAIN = TrainConfig(lr=3e-3, batch_size=64, max_epochs=8, val_every=1, patience=2)


@pytest.fixture(scope="module")
def data():
    return {"seed=1": datasets.generate(DATA, 1), "seed=2": datasets.generate(DATA, 2)}


RUNS = [
    RunSpec("a", "seed=1", model_seed=11, gamma2=1e1),
    RunSpec("b", "seed=2", model_seed=12, gamma2=1e3),
    RunSpec("c", "seed=1", model_seed=13, gamma2=1e5, beta=2.0),
]


def assert_same_run(together, alone):
    assert together.status == alone.status
    assert together.epochs_trained == alone.epochs_trained
    assert together.stopped_early == alone.stopped_early
    assert len(together.history) == len(alone.history)
    for row_t, row_a in zip(together.history, alone.history, strict=True):
        for key in row_a:
            if key == "wall_time_s":
                continue
            a, t = row_a[key], row_t[key]
            if math.isnan(a):
                assert math.isnan(t), key
            else:
                assert t == pytest.approx(a, rel=1e-4, abs=1e-5), key
    assert together.best["epoch"] == alone.best["epoch"]
    for key, value in alone.state.items():
        torch.testing.assert_close(together.state[key], value, rtol=1e-4, atol=1e-6)


def test_runs_trained_together_match_runs_trained_alone(data):
    together = train_ensemble(MODEL, TRAIN, RUNS, data, device="cpu", progress=False)
    for spec, result in zip(RUNS, together, strict=True):
        alone = train_ensemble(MODEL, TRAIN, [spec], data, device="cpu", progress=False)[0]
        assert_same_run(result, alone)
    # The runs are not trivially identical: different seeds and gamma2 give different models.
    assert together[0].best["val_neg_elbo"] != together[2].best["val_neg_elbo"]


def test_early_stopped_runs_leave_the_ensemble_at_different_checks(data):
    results = train_ensemble(
        MODEL,
        TrainConfig(lr=1e-2, max_epochs=30, val_every=1, patience=1),
        RUNS,
        data,
        device="cpu",
        progress=False,
    )
    stopped = [r.epochs_trained for r in results if r.stopped_early]
    assert stopped, "expected some run to stop early with patience 1"
    assert all(len(r.history) == r.epochs_trained for r in results)
    assert all(r.best["epoch"] <= r.epochs_trained for r in results)


# val_every=3: the run diverges between checks, which must not add a check for the others.
@pytest.mark.parametrize("train", [TRAIN, TrainConfig(lr=3e-3, max_epochs=8, val_every=3)])
def test_a_diverging_run_is_marked_and_does_not_touch_the_others(data, train):
    bad = RunSpec("bad", "seed=1", model_seed=99, gamma2=3e38)
    runs = [RUNS[0], bad, RUNS[1]]
    results = train_ensemble(MODEL, train, runs, data, device="cpu", progress=False)
    assert results[1].status == "diverged"
    assert results[1].epochs_trained == 1  # it stopped updating at the first non-finite epoch
    assert [row["epoch"] for row in results[1].history] == [1]
    for spec, result in ((RUNS[0], results[0]), (RUNS[1], results[2])):
        alone = train_ensemble(MODEL, train, [spec], data, device="cpu", progress=False)[0]
        assert result.status == "ok"
        assert_same_run(result, alone)
