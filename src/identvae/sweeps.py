"""Sweep expansion: an experiment's config -> runs -> training chunks.

Imported by the Snakefile at parse time, so it must stay light (no torch, no numpy)."""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

# Sweep keys a run may vary inside one ensemble chunk, and their short names in run ids.
PER_RUN_KEYS = {"gamma2": "gamma2", "beta": "beta", "model_seed": "seed", "data_seed": "dseed"}
TRAIN_KEYS = ("gamma2", "beta")


def format_value(value: Any) -> str:
    """Readable, file-name-safe sweep values: 10000.0 -> '1e4', 0.5 -> '0.5', 42 -> '42'."""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    if value > 0:
        exponent = math.log10(value)
        if abs(exponent - round(exponent)) < 1e-9 and abs(exponent) >= 3:
            return f"1e{round(exponent)}"
    return f"{value:g}".replace("+", "")


def expand_runs(exp_name: str, exp: dict[str, Any]) -> list[dict[str, Any]]:
    """The cartesian product of the sweep, one dict per run: run_id, data_id and the per-run
    values. Keys with a single value are left out of the run id."""
    sweep = exp["sweep"]
    keys = list(sweep)
    unknown = [k for k in keys if k not in PER_RUN_KEYS]
    if unknown:
        raise ValueError(f"experiments.{exp_name}.sweep: unknown keys {unknown}")
    for key in keys:
        if not sweep[key]:
            raise ValueError(f"experiments.{exp_name}.sweep.{key} is empty: nothing to run")
    id_keys = [k for k in keys if len(sweep[k]) > 1]
    runs = []
    for values in itertools.product(*(sweep[k] for k in keys)):
        point = dict(zip(keys, values, strict=True))
        run = {
            "gamma2": float(exp["train"]["gamma2"]),
            "beta": float(exp["train"]["beta"]),
            "model_seed": 0,
            "data_seed": 0,
        } | point
        name = "_".join(f"{PER_RUN_KEYS[k]}={format_value(point[k])}" for k in id_keys)
        run["run_id"] = name or "single"
        run["data_id"] = f"seed={run['data_seed']}"
        runs.append(run)
    ids = [r["run_id"] for r in runs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"experiments.{exp_name}.sweep: repeated values give duplicate run ids")
    return runs


def chunk_ids(exp_name: str, exp: dict[str, Any]) -> list[str]:
    n_runs = len(expand_runs(exp_name, exp))
    return [f"chunk{i:03d}" for i in range(math.ceil(n_runs / exp["runs_per_job"]))]


def chunk_runs(exp_name: str, exp: dict[str, Any], chunk: str) -> list[dict[str, Any]]:
    runs, size = expand_runs(exp_name, exp), exp["runs_per_job"]
    i = int(chunk.removeprefix("chunk"))
    return runs[i * size : (i + 1) * size]


def data_ids(exp_name: str, exp: dict[str, Any]) -> list[str]:
    return sorted({r["data_id"] for r in expand_runs(exp_name, exp)})


def data_seed(data_id: str) -> int:
    return int(data_id.removeprefix("seed="))


def chunk_spec(exp_name: str, exp: dict[str, Any], chunk: str) -> dict[str, Any]:
    """Everything a training job needs, passed to it through ``params:`` so that changing any
    hyperparameter re-runs exactly the chunks it affects."""
    train = {k: v for k, v in exp["train"].items() if k not in TRAIN_KEYS}
    return copy.deepcopy(
        {
            "experiment": exp_name,
            "chunk": chunk,
            "data": exp["data"],
            "model": exp["model"],
            "train": train,
            "runs": chunk_runs(exp_name, exp, chunk),
        }
    )


def describe(exp_name: str, exp: dict[str, Any]) -> str:
    """One line saying what an experiment will run, printed when the workflow is planned."""
    n_runs, n_jobs = len(expand_runs(exp_name, exp)), len(chunk_ids(exp_name, exp))
    sweep = " x ".join(f"{len(v)} {k}" for k, v in exp["sweep"].items())
    return (
        f"{exp_name}: {n_runs} runs ({sweep}) in {n_jobs} training job(s) of up to "
        f"{exp['runs_per_job']} runs; {exp['data']['n_samples']} samples, "
        f"up to {exp['train']['max_epochs']} epochs"
    )
