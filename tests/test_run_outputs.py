"""Run directories -> summary -> table: every run is counted, a diverged one too."""

import json
import shutil
import stat

import numpy as np
import pytest
import torch
from helpers import die_mid_write, e1_data, vae_run, vae_training

from identvae.data import datasets
from identvae.experiments.etg.moebius_gamma import gamma_table
from identvae.io import ArtifactError
from identvae.models.vae import VAEConfig
from identvae.summary import summarise
from identvae.train.chunk import write_run
from identvae.train.ensemble import RunResult, train_ensemble

DATA = e1_data(600)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    runs = [
        vae_run("gamma2=10_seed=1", "d", 1, 10.0),
        vae_run("gamma2=10_seed=2", "d", 2, 10.0),
        vae_run("gamma2=inf_seed=3", "d", 3, 3e38),  # diverges at once
    ]
    results = train_ensemble(
        *vae_training(VAEConfig(3, 3), max_epochs=2, val_every=1),
        runs,
        {"d": datasets.generate(DATA, 1)},
        device="cpu",
        progress=False,
    )
    out = tmp_path_factory.mktemp("runs")
    for spec, result in zip(runs, results, strict=True):
        config = {
            "experiment": "etg_moebius_gamma",
            "data": DATA,
            "model": {"prior": "uniform", "latent_dim": 3},
            "train": {"gamma2": spec.settings["gamma2"], "beta": 1.0},
            "model_seed": spec.model_seed,
        }
        write_run(out / spec.run_id, config | {"data_seed": 1}, result)
    return out


def test_run_directory_holds_its_four_files(runs_dir):
    run = runs_dir / "gamma2=10_seed=1"
    assert sorted(p.name for p in run.iterdir()) == [
        "config.json",
        "final.json",
        "history.csv",
        "model.pt",
    ]
    state = torch.load(run / "model.pt", weights_only=True)
    assert state["enc.0.weight"].shape == (3, 30)
    assert not any(p.name.startswith(".") for p in runs_dir.iterdir())  # no temporary left


def test_diverged_run_is_kept_and_counted(runs_dir):
    final = json.loads((runs_dir / "gamma2=inf_seed=3" / "final.json").read_text())
    assert final["status"] == "diverged"
    ids = sorted(p.name for p in runs_dir.iterdir())
    summary = summarise(runs_dir, ids)
    assert len(summary) == 3
    bad = summary[summary["run_id"] == "gamma2=inf_seed=3"].iloc[0]
    assert bad["status"] == "diverged" and np.isnan(bad["mcc_batch"])
    table = gamma_table(summary)
    row = table[table["gamma2"] == 3e38].iloc[0]
    assert row["runs"] == 1 and row["failed"] == 1


def test_a_missing_run_directory_is_named(runs_dir):
    with pytest.raises(ArtifactError, match="gamma2=99"):
        summarise(runs_dir, ["gamma2=99"])


def test_rewriting_a_run_replaces_it_whole(runs_dir, tmp_path):
    copy = tmp_path / "runs"
    shutil.copytree(runs_dir, copy)
    target = copy / "gamma2=10_seed=1"
    (target / "stale.txt").write_text("from an older run")
    diverged = copy / "gamma2=inf_seed=3"
    result = RunResult(spec=vae_run("gamma2=10_seed=1", "d", 1, 10.0), status="diverged")
    write_run(target, json.loads((diverged / "config.json").read_text()), result)
    assert not (target / "stale.txt").exists()
    assert json.loads((target / "final.json").read_text())["status"] == "diverged"
    assert sorted(p.name for p in copy.iterdir() if p.name.startswith(".")) == []


def test_corrupt_final_json_names_its_path(runs_dir, tmp_path):
    copy = tmp_path / "runs"
    shutil.copytree(runs_dir, copy)
    (copy / "gamma2=10_seed=2" / "final.json").write_text('{"run_id": ')
    with pytest.raises(ArtifactError, match=r"gamma2=10_seed=2/final\.json"):
        summarise(copy, ["gamma2=10_seed=2"])


def test_a_run_written_after_a_killed_write_leaves_nothing_of_it(runs_dir, tmp_path):
    """A process killed inside a run directory's write leaves its temporary directory behind;
    the next write of that run removes it, and a run of another name keeps its own."""
    copy = tmp_path / "runs"
    shutil.copytree(runs_dir, copy)
    target = copy / "gamma2=10_seed=1"
    die_mid_write(target, directory=True)
    others = [copy / ".gamma2=10_seed=10.abc.tmp", copy / ".gamma2=10_seed=1.5.abc.tmp"]
    for other in others:  # temporaries of other runs, whose names extend this one's
        other.mkdir()
    assert len(list(copy.glob(".gamma2=10_seed=1.*"))) == 2  # the killed write's and seed=1.5's
    diverged = copy / "gamma2=inf_seed=3"
    result = RunResult(spec=vae_run("gamma2=10_seed=1", "d", 1, 10.0), status="diverged")
    write_run(target, json.loads((diverged / "config.json").read_text()), result)
    hidden = sorted(p.name for p in copy.iterdir() if p.name.startswith("."))
    assert hidden == sorted(other.name for other in others)
    assert json.loads((target / "final.json").read_text())["status"] == "diverged"


def test_a_run_directory_is_readable_by_others(runs_dir):
    """Like every artifact, not owner-only (a temporary directory is made so)."""
    assert stat.S_IMODE((runs_dir / "gamma2=10_seed=1").stat().st_mode) == 0o755
