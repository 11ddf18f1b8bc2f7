"""Run directories -> the tables of one experiment: its summary (one row per run: settings +
metrics at the selected check) and its histories (one row per run and check: every metric, for
curves over training).

Every run is there, whatever its status: a diverged or failed run keeps its summary row with its
status and empty metrics, so tables and captions can count it, and its history up to the check
where it stopped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from identvae import sweeps
from identvae.io import ArtifactError, atomic_path, read_json

#: The settings columns a summary row may start with, in table order: each paper's per-run
#: sweep keys (gamma2, beta or model, lr; the seeds), then its structural ones (prior, dim, ...).
HEADS = tuple(
    dict.fromkeys(k for p in sweeps.PAPER_SWEEPS.values() for k in (*p.per_run, *p.structural))
)
#: The per-run ones, by which ``identvae runs`` sorts.
PER_RUN = tuple(k for p in sweeps.PAPER_SWEEPS.values() for k in p.per_run)


def _setting(config: dict, key: str):
    """A per-run sweep value of a run's config.json: its sweep values (iVAE: model, lr), its
    seeds, or its train section (EtG: gamma2, beta)."""
    if key in config.get("sweep_values", {}):
        return config["sweep_values"][key]
    return config[key] if key in config else config["train"][key]


def read_run(run_dir: str | Path) -> dict:
    """One summary row from a run directory; a missing or corrupt file raises ArtifactError."""
    run_dir = Path(run_dir)
    config = read_json(run_dir / "config.json")
    final = read_json(run_dir / "final.json")
    row = {
        "run_id": final["run_id"],
        "status": final["status"],
        **{
            k: _setting(config, k)
            for k in sweeps.setting_columns(config["experiment"], config.get("sweep_values"))
        },
        **sweeps.structural_values(config["experiment"], config),
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


def read_history(run_dir: str | Path, run: pd.Series) -> pd.DataFrame:
    """One run's checks, headed by its summary row's id, status and settings (``run``) and the
    check's number (1, 2, ...)."""
    path = Path(run_dir) / "history.csv"
    try:
        history = pd.read_csv(path)
    except FileNotFoundError:
        raise ArtifactError(f"missing file: {path}") from None
    except pd.errors.EmptyDataError:  # a run that never reached a check
        history = pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ArtifactError(f"corrupt history {path}: {err}") from None
    head = ("run_id", "status", *(k for k in HEADS if k in run.index))
    front = pd.DataFrame({k: [run[k]] * len(history) for k in head})
    front["check"] = np.arange(1, len(history) + 1)
    return pd.concat([front, history.reset_index(drop=True)], axis=1)


def histories(runs_dir: str | Path, summary: pd.DataFrame) -> pd.DataFrame:
    """Every check of the summary's runs in one long table (one row per run and check)."""
    runs_dir = Path(runs_dir)
    return pd.concat(
        [read_history(runs_dir / run.run_id, run) for _, run in summary.iterrows()],
        ignore_index=True,
    )


def write_settings(path: str | Path, experiment: str, settings: dict, preset: str) -> None:
    """The merged, validated settings an experiment ran with (config, preset and schema
    defaults), so "which learning rate did this preset use?" has a file to answer it."""
    text = yaml.safe_dump(
        {"experiment": experiment, "preset": preset, "settings": settings},
        sort_keys=False,
        allow_unicode=True,
    )
    with atomic_path(path, suffix=".yaml") as tmp:
        tmp.write_text(text)


def list_runs(exp_dir: str | Path) -> pd.DataFrame:
    """All run directories found under <exp_dir>/runs, for inspection."""
    runs_dir = Path(exp_dir) / "runs"
    if not runs_dir.is_dir():
        raise ArtifactError(f"no runs directory at {runs_dir}")
    dirs = [p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    table = pd.DataFrame([read_run(d) for d in dirs])
    if table.empty:
        return table
    columns = [c for c in HEADS if c in table and c in PER_RUN]
    return table.sort_values([*columns, "run_id"], ignore_index=True)
