"""Sweep expansion: an experiment's config -> runs -> training chunks.

Two kinds of sweep keys: per-run keys (γ², β, seeds) may differ between the runs of one ensemble
chunk; structural keys (the prior, the dimension, the decoder-variance mode) change the
architecture or the data, so runs that differ in one are trained in separate chunks, each with
the experiment's settings overridden by its values (its *variant*). A paper's *mixable*
structural keys are the exception: the method takes them per run (EtG's prior: the runs of one
dimension share their architecture), so runs that differ only in them share a chunk, whose
model section then says ``prior: per_run`` and lists the chunk's priors under ``priors``.

Imported by the Snakefile at parse time, so it must stay light (no torch, no numpy)."""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PaperSweep:
    """The sweep keys of one paper's experiments."""

    #: keys a run may vary inside one ensemble chunk -> their short names in run ids
    per_run: dict[str, str]
    #: per-run keys whose unswept value is the experiment's ``train`` setting of that name
    train_keys: tuple[str, ...]
    #: keys that change the architecture or the data (a chunk per value), see STRUCTURAL_KEYS
    structural: tuple[str, ...]
    #: structural keys the method takes per run, so that one chunk may mix their values
    mixable: tuple[str, ...] = ()
    #: per-run keys that are summary columns only where the experiment sweeps them
    optional: tuple[str, ...] = ()


SEEDS = {"model_seed": "seed", "data_seed": "dseed"}
PAPER_SWEEPS = {
    "etg": PaperSweep(
        {"gamma2": "gamma2", "beta": "beta", **SEEDS},
        ("gamma2", "beta"),
        ("prior", "dim", "decoder_variance"),
        mixable=("prior",),
    ),
    # model names one entry of the experiment's ``models`` (objective weights and prior, or
    # another method: TCL); its prior or method is a structural value derived from the name.
    # pair: the two observed variables of one NonSENS fit ("0-2"); each pair is its own dataset
    # ("joint": every variable, the one fit of a method that fits them at once, JOINT_METHODS)
    "ivae": PaperSweep(
        {"model": "model", "pair": "pair", "lr": "lr", **SEEDS},
        ("lr",),
        ("prior", "dim", "hidden", "layers", "segments"),
        optional=("pair",),
    ),
}
#: Per-run keys that are passed to the training method as its per-run settings (EtG).
TRAIN_KEYS = ("gamma2", "beta")
#: ``model.prior`` of a chunk whose runs have different priors (listed in ``model.priors``).
PER_RUN = "per_run"

# Structural sweep keys -> the settings (section, key) each value is written to.
STRUCTURAL_KEYS = {
    "prior": (("model", "prior"),),
    "dim": (("data", "n_sources"), ("model", "latent_dim")),
    "decoder_variance": (("model", "decoder_variance"),),
    "hidden": (("model", "hidden"),),
    "layers": (("model", "n_layers"),),
    "segments": (("data", "n_segments"),),
    # derived from a named model that is another method (an iVAE experiment's TCL)
    "method": (("model", "method"),),
}
# The value of a structural setting a config leaves unset.
STRUCTURAL_DEFAULTS = {"decoder_variance": "fixed"}
# Sweep keys that change the dataset, so they are part of the data id (in this order).
DATA_KEYS = ("dim", "segments", "pair")
#: Structural keys a config may sweep (an iVAE run's ``prior`` comes from its named model; the
#: schema refuses it in an iVAE sweep).
SWEEPABLE = ("prior", "dim", "decoder_variance", "hidden", "layers", "segments")


def paper_sweep(exp_name: str) -> PaperSweep:
    """The sweep keys of an experiment, by its name's paper prefix (``etg_``, ``ivae_``)."""
    paper = exp_name.partition("_")[0]
    try:
        return PAPER_SWEEPS[paper]
    except KeyError:
        raise ValueError(
            f"experiment {exp_name!r}: its name must start with a paper prefix, one of "
            f"{[f'{p}_' for p in PAPER_SWEEPS]}"
        ) from None


def setting_columns(exp_name: str, swept: Any = None) -> tuple[str, ...]:
    """The per-run sweep columns of an experiment's summary, seeds last; a paper's optional
    ones (the NonSENS pair) only where ``swept`` (the sweep, or a run's sweep values) has them."""
    paper = paper_sweep(exp_name)
    return tuple(k for k in paper.per_run if k not in paper.optional or k in (swept or {}))


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
    paper = paper_sweep(exp_name)
    known = (*paper.per_run, *(k for k in paper.structural if k in SWEEPABLE))
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(
            f"experiments.{exp_name}.sweep: unknown keys {unknown}; known: {list(known)}"
        )
    for key in keys:
        if not sweep[key]:
            raise ValueError(f"experiments.{exp_name}.sweep.{key} is empty: nothing to run")
    id_keys = [k for k in keys if len(sweep[k]) > 1]
    data_id_keys = [k for k in DATA_KEYS if k in id_keys]
    runs, joint_ids = [], set()
    for values in itertools.product(*(sweep[k] for k in keys)):
        point = dict(zip(keys, values, strict=True))
        joint = "pair" in point and _fits_jointly(exp_name, exp, point.get("model"))
        if joint:
            point["pair"] = _joint_pair()  # one fit of every variable stands for every pair
        run = {k: float(exp["train"][k]) for k in paper.train_keys if k in exp["train"]}
        run |= {"model_seed": 0, "data_seed": 0}
        run |= {k: v for k, v in point.items() if k in paper.per_run}
        name = "_".join(f"{paper.per_run.get(k, k)}={format_value(point[k])}" for k in id_keys)
        run["run_id"] = name or "single"
        run["data_id"] = "_".join(
            [f"{k}={format_value(point[k])}" for k in data_id_keys] + [f"seed={run['data_seed']}"]
        )
        variant = {k: v for k, v in point.items() if k in STRUCTURAL_KEYS}
        if "model" in point:
            named = _named_model(exp_name, exp, point["model"])
            if named.get("method", "ivae") != "ivae":
                variant["method"] = named["method"]
            else:
                variant["prior"] = named["prior"]
        if variant:  # only then: existing chunk specs (and so their params) stay as they were
            run["variant"] = variant
        if joint:
            if run["run_id"] in joint_ids:
                continue
            joint_ids.add(run["run_id"])
        runs.append(run)
    ids = [r["run_id"] for r in runs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"experiments.{exp_name}.sweep: repeated values give duplicate run ids")
    return runs


#: Methods that fit every variable of causal data at once: a NonSENS sweep's pairs give them
#: one run per seed, its pair "joint" (the iVAE and TCL fit one pair per run).
JOINT_METHODS = ("flow",)


def _joint_pair() -> str:
    from identvae.data.sem import JOINT

    return JOINT


def _fits_jointly(exp_name: str, exp: dict[str, Any], model: str | None) -> bool:
    if model is None:
        return False
    return _named_model(exp_name, exp, model).get("method") in JOINT_METHODS


def _named_model(exp_name: str, exp: dict[str, Any], name: str) -> dict[str, Any]:
    models = exp.get("models") or {}
    if name not in models:
        raise ValueError(
            f"experiments.{exp_name}.sweep.model: {name!r} is not one of the experiment's "
            f"models {sorted(models)} (experiments.{exp_name}.models)"
        )
    return models[name]


def apply_variant(exp: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """A copy of the experiment's settings with a variant's structural values applied."""
    out = copy.deepcopy(exp)
    for key, value in variant.items():
        for section, name in STRUCTURAL_KEYS[key]:
            out[section][name] = value
    return out


def structural_values(exp_name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Each structural key's value in a run's (or experiment's) settings, swept or not, so
    that every summary of a paper has the same structural columns (prior, dim, ...)."""
    values = {}
    for key in paper_sweep(exp_name).structural:
        (section, name), *_ = STRUCTURAL_KEYS[key]
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


def _chunk_variant(exp_name: str, run: dict[str, Any]) -> dict[str, Any]:
    """The part of a run's variant its chunk shares (all but the paper's mixable keys)."""
    mixable = paper_sweep(exp_name).mixable
    return {k: v for k, v in run.get("variant", {}).items() if k not in mixable}


def _chunks(exp_name: str, exp: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Runs grouped by their chunk variant (in sweep order), each group cut into chunks of
    runs_per_job; a joint fit (JOINT_METHODS) is a chunk of its own, since it weighs as much
    as a whole chunk of pair fits and the seeds' fits can then train in parallel."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in expand_runs(exp_name, exp):
        groups.setdefault(repr(sorted(_chunk_variant(exp_name, run).items())), []).append(run)
    chunks = []
    for runs in groups.values():
        joint = runs[0].get("variant", {}).get("method") in JOINT_METHODS
        size = 1 if joint else exp["runs_per_job"]
        chunks += [runs[i : i + size] for i in range(0, len(runs), size)]
    return chunks


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
            settings = apply_variant(exp, run.get("variant", {}))
            if "pair" in run:  # a NonSENS fit: the pair's columns of the causal data
                return settings["data"] | {"pair": run["pair"]}
            if settings["data"].get("source") == "file":  # what reading it checks against
                model = settings["model"]
                return settings["data"] | {
                    "latent_dim": model["latent_dim"],
                    "prior_mean": model["prior_mean"],
                }
            return settings["data"]
    raise KeyError(f"experiments.{exp_name}: no run uses the dataset {data_id!r}")


def chunk_spec(exp_name: str, exp: dict[str, Any], chunk: str) -> dict[str, Any]:
    """Everything a training job needs, passed to it through ``params:`` so that changing any
    hyperparameter re-runs exactly the chunks it affects. Data and model settings are the
    chunk's variant of the experiment's."""
    runs = chunk_runs(exp_name, exp, chunk)
    variant = _chunk_variant(exp_name, runs[0])
    mixed = {}
    for key in paper_sweep(exp_name).mixable:
        values = list(dict.fromkeys(r["variant"][key] for r in runs if key in r.get("variant", {})))
        if len(values) == 1:  # one value: the chunk is the plain variant it always was
            variant[key] = values[0]
        elif values:
            mixed[key] = values
    settings = apply_variant(exp, variant)
    for key, values in mixed.items():  # e.g. model.prior: per_run, model.priors: [uniform, ...]
        (section, name), *_ = STRUCTURAL_KEYS[key]
        settings[section][name] = PER_RUN
        settings[section][f"{name}s"] = values
    train = {k: v for k, v in settings["train"].items() if k not in TRAIN_KEYS}
    spec = {
        "experiment": exp_name,
        "chunk": chunk,
        "data": settings["data"],
        "model": settings["model"],
        "train": train,
        "runs": runs,
    }
    if "models" in settings:  # the iVAE family's named models (weights, prior)
        spec["models"] = {run["model"]: settings["models"][run["model"]] for run in runs}
    if variant.get("method") in ("tcl", "flow"):  # the method's own training section
        spec[variant["method"]] = settings[variant["method"]]
    if "nonsens" in settings:  # NonSENS's tests at the end of each pair fit
        spec["nonsens"] = settings["nonsens"]
    return copy.deepcopy(spec)


def run_sections(spec: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """The data and model sections of one run of a chunk spec, with its own structural values
    (a mixed chunk's ``prior: per_run`` replaced by the run's prior), for its config.json."""
    sections = apply_variant({"data": spec["data"], "model": spec["model"]}, run.get("variant", {}))
    for key in paper_sweep(spec["experiment"]).mixable:
        (section, name), *_ = STRUCTURAL_KEYS[key]
        sections[section].pop(f"{name}s", None)
    return sections


def describe(exp_name: str, exp: dict[str, Any]) -> str:
    """One line saying what an experiment will run, printed when the workflow is planned."""
    n_runs, n_jobs = len(expand_runs(exp_name, exp)), len(chunk_ids(exp_name, exp))
    sweep = " x ".join(f"{len(v)} {k}" for k, v in exp["sweep"].items())
    return (
        f"{exp_name}: {n_runs} runs ({sweep}) in {n_jobs} training job(s) of up to "
        f"{exp['runs_per_job']} runs; {n_samples(exp)} samples, "
        f"up to {exp['train']['max_epochs']} epochs"
    )


def n_samples(exp: dict[str, Any]) -> int | str:
    """The sample count of an experiment's datasets (segments x points for segment data)."""
    data = exp["data"]
    if "n_samples" in data:
        return data["n_samples"]
    if data.get("source") == "file":
        return f"the file's ({data['path']})"
    return data["n_segments"] * data["segment_size"]
