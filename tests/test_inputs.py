"""ExperimentData reads what a figure declares, and names the path of a missing or bad file;
histories keep every check of every run, a diverged run's too."""

import pandas as pd
import pytest

from identvae.experiments.inputs import ExperimentData
from identvae.io import ArtifactError, write_json
from identvae.summary import histories, summarise


def test_declared_inputs_are_read_by_kind(tmp_path):
    pd.DataFrame({"run_id": ["a"], "status": ["ok"]}).to_csv(tmp_path / "s.csv", index=False)
    pd.DataFrame({"run_id": ["a", "a"], "check": [1, 2]}).to_csv(tmp_path / "h.csv", index=False)
    pd.DataFrame({"run_id": ["b"]}).to_csv(tmp_path / "o.csv", index=False)
    data = ExperimentData.from_paths(
        {
            "summary": tmp_path / "s.csv",
            "histories": tmp_path / "h.csv",
            "summary__x": tmp_path / "o.csv",
        }
    )
    assert data.summary["run_id"].tolist() == ["a"]
    assert data.histories["check"].tolist() == [1, 2]
    assert data.others["x"]["run_id"].tolist() == ["b"]
    assert ExperimentData.from_paths({"summary": tmp_path / "s.csv"}).histories is None


def test_a_missing_input_is_named(tmp_path):
    with pytest.raises(ArtifactError, match="nope.csv"):
        ExperimentData.from_paths({"summary": tmp_path / "nope.csv"})
    with pytest.raises(ValueError, match="summary"):
        ExperimentData.from_paths({"histories": tmp_path / "h.csv"})


def _run(runs_dir, run_id, status, epochs):
    run = runs_dir / run_id
    run.mkdir(parents=True)
    write_json(
        run / "config.json",
        {
            "experiment": "etg_moebius_gamma",
            "train": {"gamma2": 10.0, "beta": 1.0},
            "model_seed": 1,
            "data_seed": 1,
            "model": {"prior": "uniform", "latent_dim": 3},
            "data": {"n_sources": 3},
        },
    )
    write_json(
        run / "final.json",
        {
            "run_id": run_id,
            "status": status,
            "selected_epoch": epochs[0] if status == "ok" else None,
            "epochs_trained": epochs[-1],
            "stopped_early": False,
            "metrics": {"mcc_batch": 0.5},
        },
    )
    pd.DataFrame({"epoch": epochs, "mcc_batch": [0.1 * e for e in epochs]}).to_csv(
        run / "history.csv", index=False
    )


def test_histories_number_the_checks_and_keep_a_diverged_run(tmp_path):
    _run(tmp_path, "ok_run", "ok", [5, 10, 15])
    _run(tmp_path, "bad_run", "diverged", [5])
    table = histories(tmp_path, summarise(tmp_path, ["ok_run", "bad_run"]))
    assert table["run_id"].tolist() == ["ok_run"] * 3 + ["bad_run"]
    assert table["check"].tolist() == [1, 2, 3, 1]
    assert table["epoch"].tolist() == [5, 10, 15, 5]
    assert table.loc[3, "status"] == "diverged"
    assert table.loc[3, "mcc_batch"] == pytest.approx(0.5)
    (tmp_path / "ok_run" / "history.csv").unlink()
    with pytest.raises(ArtifactError, match="ok_run/history.csv"):
        histories(tmp_path, summarise(tmp_path, ["ok_run"]))
