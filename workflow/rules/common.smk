# Config helpers: which experiments run, how their sweeps expand into runs and chunks.
# Only light imports here: this runs every time the workflow is parsed.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from identvae import sweeps
from identvae.experiments import registry
from identvae.config import check_config
from snakemake.logging import logger

EXPERIMENTS = check_config(config)
for _name, _exp in EXPERIMENTS.items():
    logger.info(sweeps.describe(_name, _exp))
ENV = "../../envs/identvae.yaml"


wildcard_constraints:
    exp="|".join(EXPERIMENTS) or "no-experiment-enabled",
    fig="|".join(fig for exp in EXPERIMENTS for fig in registry.FIGURES[exp])
    or "no-figure",
    chunk=r"chunk\d{3}",
    # seed=3, or dim=5_seed=3 when a sweep key that changes the data has several values
    data_id="".join(rf"({key}=[^_/]+_)?" for key in sweeps.DATA_KEYS) + r"seed=\d+",


def experiment(wildcards):
    return EXPERIMENTS[wildcards.exp]


def user_file(wildcards):
    """A user's data files (``data.source`` file or causal_file: the file and its optional edge
    list), so that changing one redraws the dataset."""
    data = experiment(wildcards)["data"]
    if data.get("source") not in ("file", "causal_file"):
        return []
    return [data["path"]] + ([data["edges"]] if "edges" in data else [])


def scaled_by_attempt(name):
    """The experiment's resource ``name``, times the attempt number (1 on the first try)."""
    return lambda wildcards, attempt: experiment(wildcards)["resources"][name] * attempt


def chunk_spec(wildcards):
    return sweeps.chunk_spec(wildcards.exp, experiment(wildcards), wildcards.chunk)


def chunk_data_paths(wildcards):
    runs = sweeps.chunk_runs(wildcards.exp, experiment(wildcards), wildcards.chunk)
    ids = sorted({run["data_id"] for run in runs})
    return {data_id: f"results/{wildcards.exp}/data/{data_id}.npz" for data_id in ids}


def chunk_manifests(wildcards):
    chunks = sweeps.chunk_ids(wildcards.exp, experiment(wildcards))
    return [f"results/{wildcards.exp}/chunks/{chunk}.json" for chunk in chunks]


def run_ids(wildcards):
    return [
        run["run_id"]
        for run in sweeps.expand_runs(wildcards.exp, experiment(wildcards))
    ]


def experiment_inputs(wildcards):
    """The files an experiment's table reads (its summary and its figures' other inputs)."""
    return registry.experiment_input_paths(wildcards.exp)


def experiment_input_map():
    """Per enabled experiment, the files its claims read."""
    return {name: registry.experiment_input_paths(name) for name in EXPERIMENTS}


def figure_inputs(wildcards):
    """The files the figure reads, named by kind (summary, histories, ...), as its registry
    entry declares."""
    return registry.figure_input_paths(wildcards.fig)


def figure_experiment(wildcards):
    return registry.figure_experiment(wildcards.fig)


def paper_title(experiment_name):
    return registry.PAPERS[registry.get(experiment_name).paper]


def report_artifacts(wildcards):
    """Every file of an enabled experiment the report shows: its table, its merged settings,
    and each figure as PNG, PDF, caption and provenance record (from the registry)."""
    paths = []
    for name in EXPERIMENTS:
        paths += [f"results/tables/{name}.csv", f"results/{name}/settings.yaml"]
        for fig in registry.FIGURES[name]:
            paths += [
                f"results/figures/{fig}.{suffix}"
                for suffix in ("png", "pdf", "caption.md", "provenance.json")
            ]
    return paths


def all_targets():
    targets = [
        "results/claims.csv",
        "results/scorecard.md",
        "results/report/index.html",
    ]
    for name in EXPERIMENTS:
        targets += [
            f"results/tables/{name}.csv",
            f"results/{name}/histories.csv",
            f"results/{name}/settings.yaml",
        ]
        for fig in registry.FIGURES[name]:
            targets += [f"results/figures/{fig}.pdf", f"results/figures/{fig}.png"]
    return targets
