"""Your own data end to end: an NPZ with x, u (and s) named in the config trains the iVAE and a
VAE and draws the figure; without s the figure shows the ELBO and MCC is empty; a bad file is
refused when the workflow is parsed, naming the file and the problem, before any job."""

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import ROOT, run_snakemake

from identvae.data.segments import generate_segments

pytestmark = pytest.mark.workflow
EXP = "ivae_user_data"


def user_npz(path, with_sources=True, nan=False):
    ds = generate_segments({"n_segments": 5, "segment_size": 60, "n_sources": 2}, 3)
    x = ds.observations.copy()
    if nan:
        x[7, 1] = np.nan
    arrays = {"x": x, "u": ds.labels * 10 + 3}  # any integer labels
    if with_sources:
        arrays["s"] = ds.sources
    np.savez(path, **arrays)
    return path


def overlay(tmp_path, data_path):
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    experiments = {name: {"enabled": False} for name in config["experiments"]}
    experiments[EXP] = {
        "enabled": True,
        "data": {"source": "file", "path": str(data_path)},
        "model": {"latent_dim": 2, "hidden": 16},
        "train": {"max_epochs": 2},
        "sweep": {"model": ["ivae", "vae"], "model_seed": [1]},
    }
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"progress": False, "experiments": experiments}))
    return path


@pytest.mark.parametrize("with_sources", [True, False], ids=["with-s", "without-s"])
def test_a_user_file_runs_end_to_end(tmp_path, with_sources):
    data = user_npz(tmp_path / "mine.npz", with_sources)
    target = f"results/figures/{EXP}.png"
    proc = run_snakemake(tmp_path, overlay(tmp_path, data), "--cores", "2", target)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = pd.read_csv(tmp_path / "results" / EXP / "summary.csv")
    assert sorted(summary["model"]) == ["ivae", "vae"]
    assert (summary["status"] == "ok").all()
    assert summary["mcc"].notna().all() == with_sources
    assert summary["mcc"].isna().all() != with_sources
    caption = (tmp_path / "results/figures" / f"{EXP}.caption.md").read_text()
    assert str(data) in caption
    assert ("no true sources" in caption) != with_sources


def test_a_bad_user_file_is_refused_before_any_job(tmp_path):
    data = user_npz(tmp_path / "broken.npz", nan=True)
    proc = run_snakemake(tmp_path, overlay(tmp_path, data), "--cores", "2")
    assert proc.returncode != 0
    assert str(data) in proc.stderr and "NaN" in proc.stderr, proc.stderr[-2000:]
    assert "data.path" in proc.stderr
    assert not (tmp_path / "results").exists()  # nothing started
