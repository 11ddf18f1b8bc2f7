"""Compute cost of a workflow run: Snakemake's ``benchmark:`` files aggregated per rule.

Every rule of the workflow declares a ``benchmark:`` file, a TSV that Snakemake writes when the
job succeeds: a header line, then one line per measured execution (several only with
``repeat(...)``), with the columns ``s, h:m:s, max_rss, max_vms, max_uss, max_pss, io_in, io_out,
mean_load, cpu_time`` (``--benchmark-extended`` appends more; they are ignored). Wall time ``s``
and ``cpu_time`` are seconds, ``max_rss`` is MB. A memory or CPU value is ``NA`` when the job
finished before Snakemake's first sample; it is then counted as unknown, not as zero. So are the
CPU time and memory of a rule that runs inside Snakemake's own process (``run:``, the
``dataset`` rule): its benchmark measures that whole process (CPU time since Snakemake started,
its memory), not the job; its wall time is the job's.

Naming convention (what :func:`find_benchmarks` expects, relative to the results directory)::

    <exp>/benchmarks/<rule>[_<wildcards>].tsv   a job of one experiment
    benchmarks/<rule>[_<wildcards>].tsv         a job that spans experiments (claims)

The rule name is the file name up to the first ``_`` (so rule names must not contain one; none
in this workflow does), the rest names the job's remaining wildcards (``train_chunk000.tsv``,
``dataset_seed=1.tsv``). TSV files anywhere else are not read.

For ``train`` jobs the runs trained are counted from the chunk manifest
``<exp>/chunks/<chunk>.json`` (its ``runs`` maps run id to status); a missing manifest leaves the
count unknown, a corrupt one is an error naming the file."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from identvae.io import ArtifactError, read_json
from identvae.tables import write_table

#: the ``experiment`` value of jobs that span experiments, and of the total row
ALL = "all"
#: the ``rule`` value of the total row
TOTAL = "total"
#: rules in pipeline order (others follow alphabetically)
RULE_ORDER = ("dataset", "train", "summary", "figure", "table", "claims")
#: rules run inside Snakemake's own process (``run:``): their CPU time and memory are unknown
IN_PROCESS_RULES = frozenset({"dataset"})
#: the benchmark columns read; the others are not needed here
REQUIRED_COLUMNS = ("s", "max_rss", "cpu_time")
MISSING = ("NA", "-", "")

JOB_COLUMNS = ["experiment", "rule", "job", "repeats", "wall_s", "cpu_s", "max_rss_mb", "runs"]
COST_COLUMNS = [
    "experiment",
    "rule",
    "jobs",
    "runs",
    "wall_s_total",
    "wall_s_max",
    "wall_s_per_run",
    "cpu_s_total",
    "max_rss_mb",
]


@dataclass(frozen=True)
class BenchmarkFile:
    """One job's benchmark file and what its path says about the job."""

    path: Path
    experiment: str  # ALL for jobs that span experiments
    rule: str
    job: str  # the wildcard part of the file name ("" when the rule has no other wildcard)


def parse_benchmark_path(path: str | os.PathLike, results_dir: str | os.PathLike) -> BenchmarkFile:
    """Experiment, rule and job of ``path`` following the naming convention of this module."""
    path, results_dir = Path(path), Path(results_dir)
    parts = path.relative_to(results_dir).parts
    if path.suffix != ".tsv" or len(parts) not in (2, 3) or parts[-2] != "benchmarks":
        raise ArtifactError(
            f"{path}: not a benchmark file of the expected layout "
            "(<results>/[<exp>/]benchmarks/<rule>[_<wildcards>].tsv)"
        )
    rule, _, job = path.stem.partition("_")
    if not rule:
        raise ArtifactError(f"{path}: no rule name in the file name")
    experiment = parts[0] if len(parts) == 3 else ALL
    return BenchmarkFile(path=path, experiment=experiment, rule=rule, job=job)


def find_benchmarks(results_dir: str | os.PathLike) -> list[BenchmarkFile]:
    """Every benchmark file under ``results_dir``, sorted by path."""
    results_dir = Path(results_dir)
    paths = [*results_dir.glob("benchmarks/*.tsv"), *results_dir.glob("*/benchmarks/*.tsv")]
    return [parse_benchmark_path(p, results_dir) for p in sorted(paths)]


def _number(text: str, path: Path, line: int, column: str) -> float:
    if text.strip() in MISSING:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise ArtifactError(
            f"corrupt benchmark file {path}: line {line}, column {column!r}: "
            f"{text!r} is not a number"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise ArtifactError(
            f"corrupt benchmark file {path}: line {line}, column {column!r}: {text!r} "
            "is not a finite non-negative number"
        )
    return value


def read_benchmark(path: str | os.PathLike) -> pd.DataFrame:
    """The measurements of one benchmark TSV: one row per execution, columns ``s``,
    ``max_rss``, ``cpu_time`` as floats (NaN where Snakemake wrote ``NA``).

    Raises :class:`ArtifactError` naming the file when it is missing, empty, lacks a required
    column, has a line with the wrong number of fields, a non-numeric value, or no wall time."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ArtifactError(f"missing benchmark file: {path}") from None
    except UnicodeDecodeError as err:
        raise ArtifactError(f"corrupt benchmark file {path}: {err}") from None
    lines = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise ArtifactError(f"corrupt benchmark file {path}: empty")
    header = lines[0][1].split("\t")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ArtifactError(
            f"corrupt benchmark file {path}: no column(s) {missing} in the header {header}"
        )
    if len(lines) == 1:
        raise ArtifactError(f"corrupt benchmark file {path}: a header but no measurement")
    rows = []
    for number, line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != len(header):
            raise ArtifactError(
                f"corrupt benchmark file {path}: line {number} has {len(fields)} fields, "
                f"the header {len(header)}"
            )
        record = dict(zip(header, fields, strict=True))
        rows.append({c: _number(record[c], path, number, c) for c in REQUIRED_COLUMNS})
    table = pd.DataFrame(rows, columns=list(REQUIRED_COLUMNS), dtype=float)
    if table["s"].isna().any():
        raise ArtifactError(f"corrupt benchmark file {path}: a measurement without wall time s")
    return table


def count_runs(results_dir: str | os.PathLike, bench: BenchmarkFile) -> int | None:
    """Runs trained by a ``train`` job, from its chunk manifest; None for other rules and when
    the manifest is missing."""
    if bench.rule != "train" or bench.experiment == ALL:
        return None
    manifest = Path(results_dir) / bench.experiment / "chunks" / f"{bench.job}.json"
    if not manifest.exists():
        return None
    runs = read_json(manifest).get("runs")
    if not isinstance(runs, dict):
        raise ArtifactError(f"corrupt chunk manifest {manifest}: 'runs' is not a mapping")
    return len(runs)


def job_table(results_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per job (benchmark file): ``wall_s`` and ``cpu_s`` are the mean over the file's
    repeats, ``max_rss_mb`` the maximum, ``runs`` the runs trained (``train`` only); ``cpu_s``
    and ``max_rss_mb`` are unknown (NaN) for :data:`IN_PROCESS_RULES`."""
    rows = []
    for bench in find_benchmarks(results_dir):
        measured = read_benchmark(bench.path)
        if bench.rule in IN_PROCESS_RULES:
            measured[["cpu_time", "max_rss"]] = math.nan
        runs = count_runs(results_dir, bench)
        rows.append(
            {
                "experiment": bench.experiment,
                "rule": bench.rule,
                "job": bench.job,
                "repeats": len(measured),
                "wall_s": measured["s"].mean(),
                "cpu_s": measured["cpu_time"].mean(),
                "max_rss_mb": measured["max_rss"].max(),
                "runs": pd.NA if runs is None else runs,
            }
        )
    jobs = pd.DataFrame(rows, columns=JOB_COLUMNS)
    jobs["runs"] = jobs["runs"].astype("Int64")
    for column in ("wall_s", "cpu_s", "max_rss_mb"):
        jobs[column] = jobs[column].astype(float)
    return jobs


def _aggregate(jobs: pd.DataFrame, experiment: str, rule: str) -> dict:
    trained = jobs.loc[jobs["rule"] == "train", "runs"]
    runs = int(trained.sum()) if trained.notna().any() else pd.NA
    # per run only when every train job's runs are known, so the ratio is not inflated
    complete = not trained.empty and trained.notna().all() and runs > 0
    wall_total = jobs["wall_s"].sum()
    return {
        "experiment": experiment,
        "rule": rule,
        "jobs": len(jobs),
        "runs": runs,
        "wall_s_total": wall_total,
        "wall_s_max": jobs["wall_s"].max(),
        "wall_s_per_run": wall_total / runs if complete else math.nan,
        # min_count=1: all unknown stays unknown instead of becoming 0
        "cpu_s_total": jobs["cpu_s"].sum(min_count=1),
        "max_rss_mb": jobs["max_rss_mb"].max(),
    }


def _rule_key(rule: str) -> tuple[int, str]:
    return (RULE_ORDER.index(rule) if rule in RULE_ORDER else len(RULE_ORDER), rule)


def compute_cost(results_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per (experiment, rule), then one ``total`` row over every job.

    ``jobs``: benchmark files; ``runs``: runs trained (``train``; the sum over its chunk
    manifests); ``wall_s_total``/``wall_s_max``: sum and maximum of the jobs' wall times;
    ``wall_s_per_run``: ``wall_s_total / runs`` (in the total row: the whole workflow's job time
    per run trained); ``cpu_s_total``: summed CPU time;
    ``max_rss_mb``: the largest peak resident memory of any one job. The total row's wall time
    is the serial compute time of the jobs: the workflow's wall time is shorter when jobs ran in
    parallel and longer by Snakemake's own overhead. Empty (with the columns) when there is no
    benchmark file."""
    jobs = job_table(results_dir)
    if jobs.empty:
        return pd.DataFrame(columns=COST_COLUMNS)
    rows = []
    present = set(jobs["experiment"])
    experiments = sorted(present - {ALL}) + ([ALL] if ALL in present else [])
    for experiment in experiments:
        of_experiment = jobs[jobs["experiment"] == experiment]
        for rule in sorted(set(of_experiment["rule"]), key=_rule_key):
            rows.append(_aggregate(of_experiment[of_experiment["rule"] == rule], experiment, rule))
    rows.append(_aggregate(jobs, ALL, TOTAL))
    table = pd.DataFrame(rows, columns=COST_COLUMNS)
    table["jobs"] = table["jobs"].astype(int)
    table["runs"] = table["runs"].astype("Int64")
    for column in COST_COLUMNS[4:]:
        table[column] = table[column].astype(float)
    return table


def write_compute_cost(
    results_dir: str | os.PathLike, stem: str | os.PathLike | None = None
) -> tuple[pd.DataFrame, list[Path]]:
    """Aggregate the benchmark files under ``results_dir`` and write the table (atomically) to
    ``<stem>.csv`` and ``.md``, by default ``<results_dir>/tables/compute_cost``.

    Raises :class:`ArtifactError` when there is no benchmark file (nothing was measured)."""
    table = compute_cost(results_dir)
    if table.empty:
        raise ArtifactError(
            f"no Snakemake benchmark files under {results_dir} "
            "(expected [<exp>/]benchmarks/<rule>[_<wildcards>].tsv)"
        )
    stem = Path(results_dir) / "tables" / "compute_cost" if stem is None else Path(stem)
    return table, write_table(table, stem, formats=("csv", "md"), float_format="%.2f")
