"""The iVAE experiments in the smoke run: every run a row with its model, prior and rate, one
history row per epoch (the iVAE protocol checks every epoch and reports the last), and Fig. 1's
latents file holding each finished run's posterior on its own data."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import ROOT, workflow_config

from identvae import sweeps

pytestmark = pytest.mark.workflow
SMOKE = workflow_config(ROOT / "config/presets/smoke.yaml")


def test_ivae_summaries_name_each_runs_model_prior_and_rate(smoke):
    exp = SMOKE["ivae_fig2a"]
    summary = pd.read_csv(smoke / "ivae_fig2a" / "summary.csv")
    seeds = exp["sweep"]["data_seed"]
    assert sorted(summary["model"]) == sorted(exp["sweep"]["model"] * len(seeds))
    assert sorted(set(summary["data_seed"])) == sorted(seeds)
    priors = {m: exp["models"][m]["prior"] for m in exp["sweep"]["model"]}
    assert dict(zip(summary["model"], summary["prior"], strict=True)) == priors
    assert (summary["lr"] == exp["train"]["lr"]).all()
    assert (summary["selected_epoch"] == exp["train"]["max_epochs"]).all()
    assert not summary["stopped_early"].any()
    ok = summary[summary["status"] == "ok"]
    assert ok["mcc"].between(0, 1).all() and ok["mcc_mean"].between(0, 1).all()
    # each draw's mixing, the same for every model trained on it
    for _, runs in summary.groupby("data_seed"):
        for column in ("matrix_cond", "matrix_cima", "mixing_cima", "whitened_cima"):
            assert runs[column].nunique() == 1 and runs[column].iloc[0] > 0


def test_each_run_trains_with_its_named_models_variance_and_whitening(smoke):
    """The run's config records its model's own decoder variance and whitening, and its
    weights file holds the whitening as fixed parameters where it is on."""
    exp = SMOKE["ivae_fig2a"]
    for run in (smoke / "ivae_fig2a" / "runs").iterdir():
        config = json.loads((run / "config.json").read_text())
        named = exp["models"][config["sweep_values"]["model"]]
        variance = named.get("decoder_variance", exp["model"]["decoder_variance"])
        assert config["train"]["decoder_variance"] == variance
        assert config["train"]["whiten"] == float(named.get("whiten", False))
        state = torch.load(run / "model.pt", weights_only=True)
        if named.get("whiten"):
            assert not torch.equal(state["whiten.matrix"], torch.eye(5))


def test_ivae_histories_have_one_row_per_epoch(smoke):
    exp = SMOKE["ivae_fig2a"]
    histories = pd.read_csv(smoke / "ivae_fig2a" / "histories.csv")
    for _, runs in histories.groupby("run_id"):
        assert runs["epoch"].tolist() == list(range(1, exp["train"]["max_epochs"] + 1))
        assert runs["epoch_lr"].notna().all()


def test_the_model_selection_grid_trains_each_architecture_with_each_rate(smoke):
    exp = SMOKE["ivae_model_selection"]
    summary = pd.read_csv(smoke / "ivae_model_selection" / "summary.csv")
    grid = {
        (h, n, lr)
        for h in exp["sweep"]["hidden"]
        for n in exp["sweep"]["layers"]
        for lr in exp["sweep"]["lr"]
    }
    assert set(zip(summary["hidden"], summary["layers"], summary["lr"], strict=True)) == grid
    architectures = len(exp["sweep"]["hidden"]) * len(exp["sweep"]["layers"])
    assert len(sweeps.chunk_ids("ivae_model_selection", exp)) == architectures  # lr: per run


def test_fig1_latents_hold_each_finished_runs_posterior_on_its_data(smoke):
    summary = pd.read_csv(smoke / "ivae_fig1" / "summary.csv")
    with np.load(smoke / "ivae_fig1" / "latents.npz") as f:
        arrays = {k: f[k] for k in f.files}
    for run in summary[summary["status"] == "ok"]["run_id"]:
        data_id = str(arrays[f"{run}/data_id"])
        sources = arrays[f"data/{data_id}/sources"]
        assert arrays[f"{run}/mean"].shape == sources.shape
        assert arrays[f"{run}/sample"].shape == sources.shape
        assert not np.array_equal(arrays[f"{run}/mean"], arrays[f"{run}/sample"])
        assert len(arrays[f"data/{data_id}/labels"]) == len(sources)
