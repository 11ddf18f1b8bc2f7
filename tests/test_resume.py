"""Resumable training: a job stopped mid-training continues from its checkpoint, not from epoch 0,
and ends with exactly the numbers of a job that was never stopped."""

import math

import pytest
import torch
from helpers import DEVICES, die_mid_write, e1_data, vae_run, vae_training
from ivae_cases import (
    IVAE_TRAIN,
    flow_method,
    flow_runs,
    ivae_data,
    ivae_method,
    ivae_runs,
    tcl_method,
    tcl_runs,
)
from test_ensemble import conv_case
from test_method_toy import TOY_TRAIN, ToyAutoencoder, toy_dataset, toy_runs

import identvae.train.ensemble as ensemble
from identvae.data import datasets
from identvae.io import ArtifactError, remove_artifact
from identvae.models.vae import VAEConfig
from identvae.train.checkpoint import load_weights, save_checkpoint
from identvae.train.ensemble import train_ensemble

MODEL = VAEConfig(obs_dim=3, latent_dim=3, prior="uniform")
# patience 1 and a high learning rate: runs stop at different checks, some before the interruption
METHOD, TRAIN = vae_training(MODEL, lr=1e-2, batch_size=64, max_epochs=14, val_every=1, patience=1)
RUNS = [
    vae_run("a", "seed=1", model_seed=11, gamma2=1e1),
    vae_run("b", "seed=2", model_seed=12, gamma2=1e3),
    vae_run("c", "seed=1", model_seed=13, gamma2=1e5, beta=2.0),
    vae_run("d", "seed=2", model_seed=14, gamma2=1e2),
]
# A run that diverges at epoch 1 and leaves the stack before the interruption.
BAD = vae_run("bad", "seed=1", model_seed=99, gamma2=3e38)
STOP_AFTER = 4  # epochs completed before the simulated kill
REAL_TRAIN_EPOCH = ensemble.train_epoch
OPTS = {"device": "cpu", "progress": False}


@pytest.fixture(scope="module")
def data():
    cfg = e1_data(600)
    return {"seed=1": datasets.generate(cfg, 1), "seed=2": datasets.generate(cfg, 2)}


def vae_case(mode, data):
    model = VAEConfig(obs_dim=3, latent_dim=3, prior="uniform", decoder_variance=mode)
    method, train = vae_training(model, lr=1e-2, max_epochs=14, val_every=1, patience=1)
    return method, train, [*RUNS, BAD], data


CASES = {
    "vae-fixed": lambda data: (METHOD, TRAIN, RUNS, data),
    "vae-learned": lambda data: vae_case("learned", data),
    "vae-mle": lambda data: vae_case("mle", data),
    "toy": lambda _: (
        ToyAutoencoder(),
        TOY_TRAIN,
        toy_runs(),
        {f"seed={s}": toy_dataset(s) for s in (1, 2)},
    ),
    "ivae": lambda _: (ivae_method(), IVAE_TRAIN, ivae_runs(), ivae_data()),
    # checks over training on a subsample, the reported one again on every point
    "ivae-subsampled-checks": lambda _: (
        ivae_method(check_points=60),
        IVAE_TRAIN,
        ivae_runs(),
        ivae_data(),
    ),
    # SGD with a head-only phase and a step decay; FastICA and the pair tests in the checks
    "tcl": lambda _: (tcl_method(), IVAE_TRAIN, tcl_runs(), ivae_data()),
    # restarts inside each run, untrained buffers, a cosine schedule's state, joint pair tests
    "flow": lambda _: (flow_method(), IVAE_TRAIN, flow_runs(), ivae_data()),
    "conv": lambda _: conv_case(None, max_epochs=14),
}


@pytest.fixture(scope="module")
def uninterrupted(data):
    return train_ensemble(METHOD, TRAIN, RUNS, data, **OPTS)


class Killed(BaseException):
    """Stands in for the signal that ends a job (not an Exception, like KeyboardInterrupt)."""


def count_epochs(monkeypatch, kill_after: int | None = None) -> list[int]:
    """Wrap the trainer's epoch function: count its calls and optionally die after some."""
    calls = []

    def wrapped(*args, **kwargs):
        if kill_after is not None and len(calls) == kill_after:
            raise Killed
        calls.append(1)
        return REAL_TRAIN_EPOCH(*args, **kwargs)

    monkeypatch.setattr(ensemble, "train_epoch", wrapped)
    return calls


def assert_identical(resumed, full):
    assert resumed.status == full.status
    assert resumed.epochs_trained == full.epochs_trained
    assert resumed.stopped_early == full.stopped_early
    assert len(resumed.history) == len(full.history)
    for row_r, row_f in zip(resumed.history, full.history, strict=True):
        assert row_r.keys() == row_f.keys()
        for key in row_f:
            if key == "wall_time_s":
                continue
            a, b = row_f[key], row_r[key]
            same = a == b or (not isinstance(a, str) and math.isnan(a) and math.isnan(b))
            assert same, (key, row_r[key], row_f[key])
    if full.best is None:  # diverged before its first check
        assert resumed.best is None and resumed.state is None
        return
    assert resumed.best["epoch"] == full.best["epoch"]
    for key, value in full.state.items():
        assert torch.equal(resumed.state[key], value), key


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES)
def test_a_killed_job_resumes_from_its_checkpoint_and_ends_identical(
    data, case, device, tmp_path, monkeypatch
):
    method, train, runs, case_data = CASES[case](data)
    opts = {**OPTS, "device": device}
    full_run = train_ensemble(method, train, runs, case_data, **opts)
    epochs_needed = max(r.epochs_trained for r in full_run)
    stopped_before = [r for r in full_run if r.epochs_trained <= STOP_AFTER]
    stopped_after = [r for r in full_run if r.epochs_trained > STOP_AFTER]
    # The case is only interesting if the kill falls between the runs' stops.
    assert stopped_before and stopped_after

    ckpt = tmp_path / "chunk000.pt"
    count_epochs(monkeypatch, kill_after=STOP_AFTER)
    with pytest.raises(Killed):
        train_ensemble(
            method, train, runs, case_data, **opts, checkpoint=ckpt, checkpoint_every_s=0
        )
    assert ckpt.exists()

    calls = count_epochs(monkeypatch)
    resumed = train_ensemble(
        method, train, runs, case_data, **opts, checkpoint=ckpt, checkpoint_every_s=0
    )
    assert len(calls) == epochs_needed - STOP_AFTER  # continued, did not start again at epoch 1
    for res, full in zip(resumed, full_run, strict=True):
        assert_identical(res, full)


def test_a_checkpoint_of_other_settings_is_not_resumed(data, uninterrupted, tmp_path, monkeypatch):
    ckpt = tmp_path / "chunk000.pt"
    count_epochs(monkeypatch, kill_after=2)
    other = [vae_run("a", "seed=1", model_seed=11, gamma2=2e1), *RUNS[1:]]
    with pytest.raises(Killed):
        train_ensemble(METHOD, TRAIN, other, data, **OPTS, checkpoint=ckpt, checkpoint_every_s=0)

    calls = count_epochs(monkeypatch)
    results = train_ensemble(
        METHOD, TRAIN, RUNS, data, **OPTS, checkpoint=ckpt, checkpoint_every_s=0
    )
    assert len(calls) == max(r.epochs_trained for r in uninterrupted)
    for res, full in zip(results, uninterrupted, strict=True):
        assert_identical(res, full)


def test_a_corrupt_checkpoint_is_named(data, tmp_path):
    ckpt = tmp_path / "chunk000.pt"
    ckpt.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ArtifactError, match="chunk000.pt"):
        train_ensemble(METHOD, TRAIN, RUNS, data, **OPTS, checkpoint=ckpt)


def test_removing_a_checkpoint_removes_what_a_killed_write_left_beside_it(tmp_path):
    """A process that dies inside :func:`atomic_path` leaves its temporary behind; removing the
    checkpoint (as a finished chunk does) removes that too, and nothing of another file."""
    ckpt = tmp_path / "chunk000.pt"
    save_checkpoint(ckpt, {"epoch": 1}, "fingerprint")
    die_mid_write(ckpt)
    others = [tmp_path / "chunk001.pt", tmp_path / ".chunk001.pt.abc.tmp.pt"]
    for other in others:
        other.write_bytes(b"x")
    assert len(list(tmp_path.glob(".chunk000.pt.*"))) == 1  # the killed write's temporary
    remove_artifact(ckpt)
    assert sorted(tmp_path.iterdir()) == sorted(others)


def test_model_file_round_trip_and_corruption(uninterrupted, tmp_path):
    path = tmp_path / "model.pt"
    torch.save(uninterrupted[0].state, path)
    loaded = load_weights(path)
    assert loaded.keys() == uninterrupted[0].state.keys()
    assert all(torch.equal(loaded[k], v) for k, v in uninterrupted[0].state.items())

    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ArtifactError, match="corrupt model file .*model.pt"):
        load_weights(path)
    with pytest.raises(ArtifactError, match="missing model file"):
        load_weights(tmp_path / "absent" / "model.pt")
