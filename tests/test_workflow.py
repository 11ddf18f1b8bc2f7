"""End to end: the smoke preset through the real snakemake command, in a scratch directory."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from helpers import ROOT, run_snakemake, workflow_config

from identvae import sweeps
from identvae.cli import main as cli_main
from identvae.experiments.registry import FIGURES

E1 = "etg_moebius_gamma"
SMOKE_PRESET = ROOT / "config/presets/smoke.yaml"
# runs per experiment, from the smoke preset's sweeps
SMOKE_EXPERIMENTS = {
    name: len(sweeps.expand_runs(name, exp)) for name, exp in workflow_config(SMOKE_PRESET).items()
}
pytestmark = pytest.mark.workflow


def snakemake(workdir: Path, *args: str):
    return run_snakemake(workdir, SMOKE_PRESET, "--cores", "2", *args)


def test_every_target_is_written(smoke):
    for path in [
        f"figures/{E1}.pdf",
        f"figures/{E1}.png",
        f"figures/{E1}.caption.md",
        f"tables/{E1}.csv",
        f"tables/{E1}.md",
        f"tables/{E1}.tex",
        "claims.csv",
    ]:
        assert (smoke / path).stat().st_size > 0, path
    assert (smoke / f"figures/{E1}.png").read_bytes()[:4] == b"\x89PNG"
    assert (smoke / f"figures/{E1}.pdf").read_bytes()[:4] == b"%PDF"


@pytest.mark.parametrize("exp", sorted(SMOKE_EXPERIMENTS))
def test_every_experiment_of_the_smoke_preset_has_its_outputs(smoke, exp):
    summary = pd.read_csv(smoke / exp / "summary.csv")
    assert len(summary) == SMOKE_EXPERIMENTS[exp]
    assert (smoke / "tables" / f"{exp}.csv").stat().st_size > 0
    for fig in FIGURES[exp]:
        assert (smoke / "figures" / f"{fig}.png").read_bytes()[:4] == b"\x89PNG", fig
        assert (smoke / "figures" / f"{fig}.caption.md").stat().st_size > 0, fig
    claims = pd.read_csv(smoke / "claims.csv")
    assert (claims["experiment"] == exp).any()


def test_the_mixing_contrast_of_each_run_is_recorded(smoke):
    """A data property in every summary row: 0 for the conformal Möbius map (known answer), and
    for E2 the c_IMA of the linear map, > 0 and different per data seed."""
    e1 = pd.read_csv(smoke / E1 / "summary.csv")
    assert e1["mixing_cima"].abs().max() < 1e-6
    e2 = pd.read_csv(smoke / "etg_moebius_linear" / "summary.csv")
    assert (e2["linear_cima"] > 0).all() and e2["linear_cima"].nunique() == len(e2)
    assert (e2["mixing_cima"] > 0).all()


def test_structural_sweeps_train_each_variant_on_its_own_data(smoke):
    """Prior × dimension: one chunk per dimension (its priors mixed in one ensemble), one
    dataset per dimension, and each run's data, weights and summary row have its own dimension
    and prior."""
    exp = smoke / "etg_prior_ablation"
    summary = pd.read_csv(exp / "summary.csv")
    assert sorted(zip(summary["prior"], summary["dim"], strict=True)) == [
        ("gaussian", 2),
        ("gaussian", 3),
        ("uniform", 2),
        ("uniform", 3),
    ]
    assert len(list((exp / "chunks").iterdir())) == 2
    assert sorted(p.name for p in (exp / "data").iterdir()) == [
        "dim=2_seed=1.npz",
        "dim=3_seed=1.npz",
    ]
    for row in summary.itertuples():
        config = json.loads((exp / "runs" / row.run_id / "config.json").read_text())
        assert config["variant"] == {"prior": row.prior, "dim": row.dim}
        assert config["model"]["prior"] == row.prior
        assert config["model"]["latent_dim"] == config["data"]["n_sources"] == row.dim
        assert config["data"]["path"].endswith(f"dim={row.dim}_seed=1.npz")
        state = torch.load(exp / "runs" / row.run_id / "model.pt", weights_only=True)
        assert state["dec.0.weight"].shape == (row.dim, 10 * row.dim)
    assert summary["mixing_cima"].abs().max() < 1e-6  # Möbius in every dimension


def test_a_learned_or_mle_decoder_precision_is_recorded(smoke):
    summary = pd.read_csv(smoke / "etg_decoder_variance" / "summary.csv")
    assert set(summary["decoder_variance"]) == {"learned", "mle"}
    assert (summary["status"] == "ok").all()
    assert (summary["decoder_gamma2"] > 0).all()
    for row in summary[summary["decoder_variance"] == "learned"].itertuples():
        state = torch.load(
            smoke / "etg_decoder_variance" / "runs" / row.run_id / "model.pt", weights_only=True
        )
        assert float(state["dec.log_gamma2"].exp()) == pytest.approx(row.decoder_gamma2, rel=1e-5)
    # the fixed-γ² experiments report their own γ², and every summary has the structural columns
    e1 = pd.read_csv(smoke / E1 / "summary.csv")
    assert set(e1["decoder_variance"]) == {"fixed"} and set(e1["dim"]) == {3}
    assert e1["decoder_gamma2"].tolist() == pytest.approx(e1["gamma2"].tolist(), rel=1e-6)


def test_every_run_has_its_directory_and_a_row(smoke):
    summary = pd.read_csv(smoke / E1 / "summary.csv")
    # smoke sweep: 2 gamma2 x 2 seeds, in chunks of 2
    assert len(summary) == 4
    assert set(summary["gamma2"]) == {10.0, 1e4}
    assert sorted(p.name for p in (smoke / E1 / "chunks").iterdir()) == [
        "chunk000.json",
        "chunk001.json",
    ]
    for run_id in summary["run_id"]:
        run_dir = smoke / E1 / "runs" / run_id
        config = json.loads((run_dir / "config.json").read_text())
        final = json.loads((run_dir / "final.json").read_text())
        history = pd.read_csv(run_dir / "history.csv")
        assert config["run_id"] == run_id == final["run_id"]
        assert final["status"] == "ok"
        assert final["selected_epoch"] in history["epoch"].tolist()
        best = history.loc[history["val_neg_elbo"].idxmin()]
        assert final["selected_epoch"] == best["epoch"]
        assert final["metrics"]["mcc_batch"] == pytest.approx(best["mcc_batch"])
        state = torch.load(run_dir / "model.pt", weights_only=True)
        assert state["dec.0.weight"].shape == (3, 30)
    ok = summary[summary["status"] == "ok"]
    assert ok["mcc_batch"].between(0, 1).all()
    assert (ok["cima_batch"] >= 0).all()


def test_table_and_claims_are_computed_from_the_summary(smoke):
    summary = pd.read_csv(smoke / E1 / "summary.csv")
    table = pd.read_csv(smoke / "tables" / f"{E1}.csv")
    assert table["runs"].tolist() == [2, 2]
    for _, row in table.iterrows():
        runs = summary[summary["gamma2"] == row["gamma2"]]
        assert row["mcc_batch_median"] == pytest.approx(runs["mcc_batch"].median())
    claims = pd.read_csv(smoke / "claims.csv")
    e1_ids = set(claims.loc[claims["experiment"] == E1, "claim_id"])
    assert e1_ids == {"E1.high_gamma_mcc", "E1.low_gamma_mcc", "E1.cima_drop"}
    assert set(claims["verdict"]) <= {
        "reproduced",
        "partly reproduced",
        "not reproduced",
        "no data",
        "reported",
    }
    # "reported" exactly where the paper gives nothing to judge: the claims declared without a
    # threshold (decoder variance, prior ablation, E4's importance-sampled gap, the AR-flow
    # trend), unless they have no data
    from identvae.experiments import load

    declared = {
        c.claim_id: c.threshold is None
        for name in claims["experiment"].unique()
        for c in load(name).CLAIMS
    }
    judged = claims[claims["verdict"] != "no data"]
    reported = set(judged.loc[judged["verdict"] == "reported", "claim_id"])
    assert reported == {cid for cid in judged["claim_id"] if declared[cid]}
    assert {"E6.decoder_variance", "E6.prior_ablation"} <= reported


def test_a_second_run_has_nothing_to_do(smoke):
    proc = snakemake(smoke.parent, "-n")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_identvae_runs_lists_every_run(smoke, capsys):
    assert cli_main(["runs", str(smoke / E1)]) == 0
    out = capsys.readouterr().out
    for run_id in pd.read_csv(smoke / E1 / "summary.csv")["run_id"]:
        assert run_id in out
    assert "4 runs: 4 ok" in out


def test_histories_hold_every_check_of_every_run(smoke):
    summary = pd.read_csv(smoke / E1 / "summary.csv")
    histories = pd.read_csv(smoke / E1 / "histories.csv")
    assert sorted(histories["run_id"].unique()) == sorted(summary["run_id"])
    for run_id, checks in histories.groupby("run_id"):
        own = pd.read_csv(smoke / E1 / "runs" / run_id / "history.csv")
        assert checks["check"].tolist() == list(range(1, len(own) + 1))
        assert checks["epoch"].tolist() == own["epoch"].tolist()
        assert checks["mcc_batch"].tolist() == pytest.approx(own["mcc_batch"].tolist())
        row = summary[summary["run_id"] == run_id].iloc[0]
        assert (checks["gamma2"] == row["gamma2"]).all()
        assert (checks["status"] == row["status"]).all()


def test_settings_yaml_holds_the_merged_validated_settings(smoke):
    saved = yaml.safe_load((smoke / E1 / "settings.yaml").read_text())
    assert saved["experiment"] == E1 and saved["preset"] == "smoke"
    expected = workflow_config(SMOKE_PRESET)[E1]
    assert saved["settings"] == expected
    assert saved["settings"]["train"]["lr"] == 1e-3  # from the default config, not the preset
    assert saved["settings"]["train"]["max_epochs"] == 4  # from the smoke preset
    assert saved["settings"]["train"]["metric_batch_size"] == 64  # a schema default
