"""Run directories -> one summary table per experiment (one row per run: settings + final).

Every run is a row, whatever its status: a diverged or failed run keeps its row with its status and
empty metrics, so tables and captions can count it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from identvae import sweeps
from identvae.io import ArtifactError, read_json

SETTING_COLUMNS = ("gamma2", "beta", "model_seed", "data_seed")


def read_run(run_dir: str | Path) -> dict:
    """One summary row from a run directory; a missing or corrupt file raises ArtifactError."""
    run_dir = Path(run_dir)
    config = read_json(run_dir / "config.json")
    final = read_json(run_dir / "final.json")
    row = {
        "run_id": final["run_id"],
        "status": final["status"],
        "gamma2": config["train"]["gamma2"],
        "beta": config["train"]["beta"],
        "model_seed": config["model_seed"],
        "data_seed": config["data_seed"],
        **sweeps.structural_values(config),
        "selected_epoch": final["selected_epoch"],
        "epochs_trained": final["epochs_trained"],
        "stopped_early": final["stopped_early"],
    }
    metrics = {k: (np.nan if v is None else v) for k, v in final["metrics"].items()}
    if final["status"] != "ok":  # never let a diverged run's last numbers into a median
        metrics = dict.fromkeys(metrics, np.nan)
    return row | metrics | final.get("data_metrics", {})


def summarise(runs_dir: str | Path, run_ids: list[str]) -> pd.DataFrame:
    """The summary of the named runs (every expected run must be present)."""
    runs_dir = Path(runs_dir)
    absent = [r for r in run_ids if not (runs_dir / r).is_dir()]
    if absent:
        raise ArtifactError(f"{runs_dir}: expected run directories are missing: {absent}")
    return pd.DataFrame([read_run(runs_dir / r) for r in run_ids])


def list_runs(exp_dir: str | Path) -> pd.DataFrame:
    """All run directories found under <exp_dir>/runs, for inspection."""
    runs_dir = Path(exp_dir) / "runs"
    if not runs_dir.is_dir():
        raise ArtifactError(f"no runs directory at {runs_dir}")
    dirs = [p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    table = pd.DataFrame([read_run(d) for d in dirs])
    if table.empty:
        return table
    return table.sort_values([*SETTING_COLUMNS, "run_id"], ignore_index=True)


def unfinished_counts(statuses: pd.Series) -> str:
    """``"2 diverged, 1 failed"`` for the runs whose status is not "ok" ("" if there are none):
    every caption names its unfinished runs with this."""
    counts = statuses[statuses != "ok"].astype(str).value_counts().sort_index()
    return ", ".join(f"{k} {status}" for status, k in counts.items())
