"""Sweep expansion: an experiment's config -> runs -> training chunks.

Two kinds of sweep keys: per-run keys (γ², β, seeds) may differ between the runs of one ensemble
chunk; structural keys (the prior, the dimension, the decoder-variance mode) change the
architecture or the data, so runs that differ in one are trained in separate chunks, each with
the experiment's settings overridden by its values (its *variant*).

Imported by the Snakefile at parse time, so it must stay light (no torch, no numpy)."""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

# Sweep keys a run may vary inside one ensemble chunk, and their short names in run ids.
PER_RUN_KEYS = {"gamma2": "gamma2", "beta": "beta", "model_seed": "seed", "data_seed": "dseed"}
TRAIN_KEYS = ("gamma2", "beta")

# Structural sweep keys -> the settings (section, key) each value is written to.
STRUCTURAL_KEYS = {
    "prior": (("model", "prior"),),
    "dim": (("data", "n_sources"), ("model", "latent_dim")),
    "decoder_variance": (("model", "decoder_variance"),),
}
# The value of a structural setting a config leaves unset.
STRUCTURAL_DEFAULTS = {"decoder_variance": "fixed"}
# Structural keys that change the dataset, so they are part of the data id.
DATA_KEYS = ("dim",)
SWEEP_KEYS = (*PER_RUN_KEYS, *STRUCTURAL_KEYS)


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
    unknown = [k for k in keys if k not in SWEEP_KEYS]
    if unknown:
        raise ValueError(
            f"experiments.{exp_name}.sweep: unknown keys {unknown}; known: {list(SWEEP_KEYS)}"
        )
    for key in keys:
        if not sweep[key]:
            raise ValueError(f"experiments.{exp_name}.sweep.{key} is empty: nothing to run")
    id_keys = [k for k in keys if len(sweep[k]) > 1]
    data_id_keys = [k for k in id_keys if k in DATA_KEYS]
    runs = []
    for values in itertools.product(*(sweep[k] for k in keys)):
        point = dict(zip(keys, values, strict=True))
        run = {
            "gamma2": float(exp["train"]["gamma2"]),
            "beta": float(exp["train"]["beta"]),
            "model_seed": 0,
            "data_seed": 0,
        } | {k: v for k, v in point.items() if k in PER_RUN_KEYS}
        name = "_".join(f"{PER_RUN_KEYS.get(k, k)}={format_value(point[k])}" for k in id_keys)
        run["run_id"] = name or "single"
        run["data_id"] = "_".join(
            [f"{k}={format_value(point[k])}" for k in data_id_keys] + [f"seed={run['data_seed']}"]
        )
        variant = {k: v for k, v in point.items() if k in STRUCTURAL_KEYS}
        if variant:  # only then: existing chunk specs (and so their params) stay as they were
            run["variant"] = variant
        runs.append(run)
    ids = [r["run_id"] for r in runs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"experiments.{exp_name}.sweep: repeated values give duplicate run ids")
    return runs


def apply_variant(exp: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """A copy of the experiment's settings with a variant's structural values applied."""
    out = copy.deepcopy(exp)
    for key, value in variant.items():
        for section, name in STRUCTURAL_KEYS[key]:
            out[section][name] = value
    return out


def structural_values(settings: dict[str, Any]) -> dict[str, Any]:
    """Each structural key's value in a run's (or experiment's) settings, swept or not, so
    that every summary has a prior, dim and decoder_variance column."""
    values = {}
    for key, ((section, name), *_) in STRUCTURAL_KEYS.items():
        values[key] = settings[section].get(name, STRUCTURAL_DEFAULTS.get(key))
    return values


def variants(exp_name: str, exp: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(variant, settings) once per combination of structural sweep values (one pair with an
    empty variant when there are none), for checking each before any job starts."""
    seen: list[dict[str, Any]] = []
    for run in expand_runs(exp_name, exp):
        if run.get("variant", {}) not in seen:
            seen.append(run.get("variant", {}))
    return [(v, apply_variant(exp, v)) for v in seen]


def _chunks(exp_name: str, exp: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Runs grouped by variant (in sweep order), each group cut into chunks of runs_per_job."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in expand_runs(exp_name, exp):
        groups.setdefault(repr(sorted(run.get("variant", {}).items())), []).append(run)
    size = exp["runs_per_job"]
    return [runs[i : i + size] for runs in groups.values() for i in range(0, len(runs), size)]


def chunk_ids(exp_name: str, exp: dict[str, Any]) -> list[str]:
    return [f"chunk{i:03d}" for i in range(len(_chunks(exp_name, exp)))]


def chunk_runs(exp_name: str, exp: dict[str, Any], chunk: str) -> list[dict[str, Any]]:
    return _chunks(exp_name, exp)[int(chunk.removeprefix("chunk"))]


def data_ids(exp_name: str, exp: dict[str, Any]) -> list[str]:
    return sorted({r["data_id"] for r in expand_runs(exp_name, exp)})


def data_seed(data_id: str) -> int:
    """The seed of a data id such as ``seed=3`` or ``dim=5_seed=3``."""
    return int(data_id.rpartition("seed=")[2])


def data_config(exp_name: str, exp: dict[str, Any], data_id: str) -> dict[str, Any]:
    """The data settings of one dataset (the experiment's, with a ``dim`` variant applied)."""
    for run in expand_runs(exp_name, exp):
        if run["data_id"] == data_id:
            return apply_variant(exp, run.get("variant", {}))["data"]
    raise KeyError(f"experiments.{exp_name}: no run uses the dataset {data_id!r}")


def chunk_spec(exp_name: str, exp: dict[str, Any], chunk: str) -> dict[str, Any]:
    """Everything a training job needs, passed to it through ``params:`` so that changing any
    hyperparameter re-runs exactly the chunks it affects. Data and model settings are the
    chunk's variant of the experiment's."""
    runs = chunk_runs(exp_name, exp, chunk)
    settings = apply_variant(exp, runs[0].get("variant", {}))
    train = {k: v for k, v in settings["train"].items() if k not in TRAIN_KEYS}
    return copy.deepcopy(
        {
            "experiment": exp_name,
            "chunk": chunk,
            "data": settings["data"],
            "model": settings["model"],
            "train": train,
            "runs": runs,
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
