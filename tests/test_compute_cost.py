"""Compute cost: synthetic benchmark files and chunk manifests in, known aggregates out."""

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from identvae.cli import main as cli_main
from identvae.compute_cost import (
    COST_COLUMNS,
    IN_PROCESS_RULES,
    compute_cost,
    find_benchmarks,
    job_table,
    parse_benchmark_path,
    read_benchmark,
    write_compute_cost,
)
from identvae.io import ArtifactError

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time"
E1 = "etg_moebius_gamma"


def bench(path: Path, *rows: tuple) -> Path:
    """A benchmark TSV as Snakemake writes it; each row is (s, max_rss, cpu_time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [HEADER]
    for s, rss, cpu in rows:
        lines.append(f"{s}\t0:00:00\t{rss}\t1000.00\t{rss}\t{rss}\t0.00\t0.01\t80.00\t{cpu}")
    path.write_text("\n".join(lines) + "\n")
    return path


def manifest(results: Path, exp: str, chunk: str, n_runs: int) -> None:
    path = results / exp / "chunks" / f"{chunk}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    runs = {f"gamma2=10_seed={i}": "ok" for i in range(n_runs)}
    path.write_text(json.dumps({"experiment": exp, "chunk": chunk, "runs": runs}))


@pytest.fixture
def results(tmp_path) -> Path:
    """Two experiments, a cross-experiment claims job, fast jobs without memory figures."""
    r = tmp_path / "results"
    bench(r / E1 / "benchmarks/dataset_seed=1.tsv", (1.5, 200.0, 1.2))
    bench(r / E1 / "benchmarks/dataset_seed=2.tsv", (2.5, 250.0, 2.0))
    bench(r / E1 / "benchmarks/train_chunk000.tsv", (60.0, 500.0, 100.0))
    bench(r / E1 / "benchmarks/train_chunk001.tsv", (40.0, 700.0, 70.0))
    manifest(r, E1, "chunk000", 25)
    manifest(r, E1, "chunk001", 15)
    bench(r / E1 / "benchmarks/summary.tsv", (0.3, "NA", "NA"))
    bench(r / "other_exp/benchmarks/train_chunk000.tsv", (10.0, 300.0, 9.0))
    manifest(r, "other_exp", "chunk000", 4)
    bench(r / "benchmarks/claims.tsv", (0.4, 150.0, 0.5))
    # neither layout: ignored
    bench(r / E1 / "runs/x/benchmarks/train_chunk000.tsv", (999.0, 999.0, 999.0))
    (r / "tables").mkdir()
    (r / "tables/e1.tsv").write_text("not a benchmark\n")
    return r


def row(table: pd.DataFrame, experiment: str, rule: str) -> pd.Series:
    match = table[(table["experiment"] == experiment) & (table["rule"] == rule)]
    assert len(match) == 1, (experiment, rule)
    return match.iloc[0]


def test_paths_name_the_experiment_rule_and_job(tmp_path):
    r = tmp_path / "results"
    b = parse_benchmark_path(r / E1 / "benchmarks/dataset_seed=1.tsv", r)
    assert (b.experiment, b.rule, b.job) == (E1, "dataset", "seed=1")
    b = parse_benchmark_path(r / "benchmarks/claims.tsv", r)
    assert (b.experiment, b.rule, b.job) == ("all", "claims", "")
    with pytest.raises(ArtifactError, match="expected layout"):
        parse_benchmark_path(r / E1 / "logs/train_chunk000.tsv", r)


def test_find_benchmarks_reads_only_the_documented_layout(results):
    found = {(b.experiment, b.rule, b.job) for b in find_benchmarks(results)}
    assert found == {
        (E1, "dataset", "seed=1"),
        (E1, "dataset", "seed=2"),
        (E1, "train", "chunk000"),
        (E1, "train", "chunk001"),
        (E1, "summary", ""),
        ("other_exp", "train", "chunk000"),
        ("all", "claims", ""),
    }


def test_known_numbers_give_known_aggregates(results):
    table = compute_cost(results)
    assert list(table.columns) == COST_COLUMNS
    # experiments sorted, cross-experiment jobs last, rules in pipeline order, total at the end
    assert list(zip(table["experiment"], table["rule"], strict=True)) == [
        (E1, "dataset"),
        (E1, "train"),
        (E1, "summary"),
        ("other_exp", "train"),
        ("all", "claims"),
        ("all", "total"),
    ]

    train = row(table, E1, "train")
    assert train["jobs"] == 2
    assert train["runs"] == 40
    assert train["wall_s_total"] == pytest.approx(100.0)
    assert train["wall_s_max"] == pytest.approx(60.0)
    assert train["wall_s_per_run"] == pytest.approx(2.5)
    assert train["cpu_s_total"] == pytest.approx(170.0)
    assert train["max_rss_mb"] == pytest.approx(700.0)

    # datasets are drawn inside Snakemake's process: its CPU time and memory are not the job's
    data = row(table, E1, "dataset")
    assert (data["jobs"], data["wall_s_total"], data["wall_s_max"]) == (2, 4.0, 2.5)
    assert math.isnan(data["cpu_s_total"]) and math.isnan(data["max_rss_mb"])
    assert pd.isna(data["runs"]) and math.isnan(data["wall_s_per_run"])

    # NA memory and CPU (a job faster than Snakemake's sampling) stay unknown, not zero
    summary = row(table, E1, "summary")
    assert summary["wall_s_total"] == pytest.approx(0.3)
    assert math.isnan(summary["cpu_s_total"]) and math.isnan(summary["max_rss_mb"])

    total = row(table, "all", "total")
    assert total["jobs"] == 7
    assert total["runs"] == 44
    assert total["wall_s_total"] == pytest.approx(1.5 + 2.5 + 60 + 40 + 0.3 + 10 + 0.4)
    assert total["wall_s_max"] == pytest.approx(60.0)
    assert total["wall_s_per_run"] == pytest.approx(114.7 / 44)
    assert total["cpu_s_total"] == pytest.approx(100 + 70 + 9 + 0.5)
    assert total["max_rss_mb"] == pytest.approx(700.0)


def test_in_process_rules_are_the_workflows_run_rules():
    """IN_PROCESS_RULES names exactly the rules whose jobs run in Snakemake's process."""
    in_process, rule = set(), None
    for path in sorted((Path(__file__).parents[1] / "workflow/rules").glob("*.smk")):
        for line in path.read_text().splitlines():
            if match := re.match(r"rule (\w+):", line):
                rule = match.group(1)
            elif re.match(r"\s+run:\s*$", line):
                in_process.add(rule)
    assert in_process == IN_PROCESS_RULES


def test_a_large_in_process_figure_does_not_reach_the_total(tmp_path):
    """A dataset job's benchmark carries Snakemake's CPU time since start (seen: 479 s for a
    job of 0.04 s wall), which would swamp the training jobs' CPU time."""
    r = tmp_path / "results"
    bench(r / E1 / "benchmarks/dataset_seed=1.tsv", (0.04, 1200.0, 4400.0))
    bench(r / E1 / "benchmarks/train_chunk000.tsv", (60.0, 500.0, 100.0))
    total = row(compute_cost(r), "all", "total")
    assert total["wall_s_total"] == pytest.approx(60.04)
    assert total["cpu_s_total"] == pytest.approx(100.0)
    assert total["max_rss_mb"] == pytest.approx(500.0)


def test_repeats_are_averaged_and_the_peak_is_kept(tmp_path):
    r = tmp_path / "results"
    bench(r / E1 / "benchmarks/train_chunk000.tsv", (10.0, 100.0, 8.0), (20.0, 300.0, 12.0))
    manifest(r, E1, "chunk000", 5)
    job = job_table(r).iloc[0]
    assert (job["repeats"], job["wall_s"], job["cpu_s"], job["max_rss_mb"]) == (2, 15, 10, 300)
    assert job["runs"] == 5


def test_a_missing_manifest_leaves_runs_unknown(tmp_path):
    r = tmp_path / "results"
    bench(r / E1 / "benchmarks/train_chunk000.tsv", (10.0, 100.0, 8.0))
    bench(r / E1 / "benchmarks/train_chunk001.tsv", (10.0, 100.0, 8.0))
    manifest(r, E1, "chunk001", 5)
    train = row(compute_cost(r), E1, "train")
    assert train["runs"] == 5  # the known part
    assert math.isnan(train["wall_s_per_run"])  # not 20 s / 5 runs


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("s\th:m:s\tmax_rss\n1.0\t0:00:01\t5.0\n", "no column"),
        (HEADER + "\n", "no measurement"),
        (HEADER + "\n1.0\t0:00:01\t5.0\n", "line 2 has 3 fields"),
        (HEADER + "\nabc\t0:00:01\t5\t5\t5\t5\t0\t0\t1\t1\n", "'abc' is not a number"),
        (HEADER + "\n1.0\t0:00:01\t5\t5\t5\t5\t0\t0\t1\t-3\n", "non-negative"),
        (HEADER + "\nNA\t0:00:01\t5\t5\t5\t5\t0\t0\t1\t1\n", "without wall time"),
    ],
)
def test_a_corrupt_benchmark_file_is_named(tmp_path, text, message):
    path = tmp_path / "results" / E1 / "benchmarks" / "train_chunk000.tsv"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(ArtifactError, match=message) as err:
        compute_cost(tmp_path / "results")
    assert str(path) in str(err.value)
    with pytest.raises(ArtifactError):
        read_benchmark(path)


def test_a_corrupt_manifest_is_named(tmp_path):
    r = tmp_path / "results"
    bench(r / E1 / "benchmarks/train_chunk000.tsv", (10.0, 100.0, 8.0))
    path = r / E1 / "chunks/chunk000.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"runs": ')
    with pytest.raises(ArtifactError, match="chunk000.json"):
        compute_cost(r)


def test_written_table_round_trips(results):
    table, written = write_compute_cost(results)
    assert [p.name for p in written] == ["compute_cost.csv", "compute_cost.md"]
    assert all(p.parent == results / "tables" for p in written)
    back = pd.read_csv(results / "tables/compute_cost.csv")
    assert back["wall_s_total"].tolist() == pytest.approx(table["wall_s_total"].tolist())
    assert back.loc[back["rule"] == "train", "runs"].tolist() == [40, 4]
    assert "| etg_moebius_gamma | train" in (results / "tables/compute_cost.md").read_text()
    # no temporary files left behind
    assert sorted(p.name for p in (results / "tables").iterdir()) == [
        "compute_cost.csv",
        "compute_cost.md",
        "e1.tsv",
    ]


def test_no_benchmark_files_is_an_error(tmp_path):
    with pytest.raises(ArtifactError, match="no Snakemake benchmark files"):
        write_compute_cost(tmp_path)
    assert not (tmp_path / "tables").exists()


def test_cli_cost(results, capsys):
    assert cli_main(["cost", str(results)]) == 0
    out = capsys.readouterr().out
    assert "total" in out and "wrote" in out
    assert (results / "tables/compute_cost.csv").exists()

    bad = results / E1 / "benchmarks" / "table.tsv"
    bad.write_text("garbage\n")
    assert cli_main(["cost", str(results), "--no-write"]) == 1
    assert str(bad) in capsys.readouterr().err
