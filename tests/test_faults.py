"""Faults through the real snakemake command: a sweep killed mid-training (SIGINT and SIGKILL) and
started again, a diverging run inside a sweep, and the same config run twice.

The sweep has three chunks of two runs, trained one job at a time, and one run whose γ² makes
its loss overflow at the first step."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import ROOT

from identvae.experiments.registry import FIGURES

E1 = "etg_moebius_gamma"
pytestmark = pytest.mark.workflow

FAULT_CONFIG = """\
preset: faults
progress: false
checkpoint_every_s: 0
experiments:
  etg_moebius_gamma:
    runs_per_job: 2
    data: {n_samples: 1500}
    train: {max_epochs: 40, val_every: 2, patience: 50}
    sweep:
      gamma2: [1.0e+1, 1.0e+4, 3.0e+38]
      model_seed: [1, 2]
      data_seed: [1]
"""
DIVERGING = "gamma2=3e38"
# Only E1 runs here; every other experiment of the default config is switched off.
FAULT_CONFIG += "".join(f"  {name}: {{enabled: false}}\n" for name in sorted(FIGURES) if name != E1)


def command(workdir: Path, *args: str) -> list[str]:
    config = workdir / "faults.yaml"
    config.write_text(FAULT_CONFIG)
    return [
        *(sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")),
        *("--directory", str(workdir), "--configfile", str(config), "--cores", "1", *args),
    ]


def run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(command(workdir, *args), capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def summary_without_timing(results: Path) -> pd.DataFrame:
    return pd.read_csv(results / E1 / "summary.csv").drop(columns=["wall_time_s"])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    run(workdir)
    return workdir / "results"


def kill_mid_sweep(workdir: Path, sig: int) -> tuple[str, str]:
    """Start the sweep, wait until one chunk is complete and another has saved a checkpoint, and
    send ``sig`` to the whole process group (like Ctrl-C in a terminal, or the OOM killer).
    Returns (the completed chunk, the interrupted chunk).

    The sweep starts with SIGINT's default action restored: a shell starts background commands
    with SIGINT ignored (``pytest ... &``, ``nohup``), the sweep would inherit that and ignore
    the interrupt, and the test would fail for how it was started, not for what it tests."""
    exp = workdir / "results" / E1
    proc = subprocess.Popen(
        command(workdir),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            done = {p.stem for p in exp.glob("chunks/chunk*.json")}
            saved = {p.stem for p in exp.glob("checkpoints/chunk*.pt")} - done
            if done and saved:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=120)
                return sorted(done)[0], sorted(saved)[0]
            assert proc.poll() is None, "the sweep ended before it could be interrupted"
            time.sleep(0.02)
        raise AssertionError("no chunk finished while another was training")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def run_files(exp: Path, chunk: str) -> dict[Path, int]:
    """Every file of the chunk's runs with its modification time (ns)."""
    manifest = json.loads((exp / "chunks" / f"{chunk}.json").read_text())
    files = [exp / "chunks" / f"{chunk}.json"]
    for run_id in manifest["runs"]:
        files += sorted((exp / "runs" / run_id).iterdir())
    return {f: f.stat().st_mtime_ns for f in files}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_sweep_killed_mid_training_resumes_and_matches(uninterrupted, tmp_path, sig):
    exp = tmp_path / "results" / E1
    completed, interrupted = kill_mid_sweep(tmp_path, sig)
    assert not (exp / "chunks" / f"{interrupted}.json").exists()
    before = run_files(exp, completed)

    if sig == signal.SIGKILL:  # a killed snakemake cannot release its lock; the user unlocks
        run(tmp_path, "--unlock")
    run(tmp_path)

    assert run_files(exp, completed) == before  # completed runs were not retrained or rewritten
    log = (exp / "logs" / f"train_{interrupted}.log").read_text()
    assert "resumed from" in log and "after epoch" in log  # continued, not restarted
    assert not list(exp.glob("checkpoints/*.pt"))  # removed once the chunk is written
    pd.testing.assert_frame_equal(
        summary_without_timing(tmp_path / "results"), summary_without_timing(uninterrupted)
    )


def test_the_same_config_twice_gives_identical_tables(uninterrupted, tmp_path):
    run(tmp_path)
    again = tmp_path / "results"
    pd.testing.assert_frame_equal(
        summary_without_timing(again), summary_without_timing(uninterrupted)
    )
    for name in [f"tables/{E1}.csv", f"tables/{E1}.md", "claims.csv"]:
        assert (again / name).read_bytes() == (uninterrupted / name).read_bytes(), name


def test_a_diverging_run_is_marked_and_counted_everywhere(uninterrupted):
    exp = uninterrupted / E1
    summary = pd.read_csv(exp / "summary.csv")
    assert len(summary) == 6  # nothing dropped
    bad = summary[summary["run_id"].str.startswith(DIVERGING)]
    assert len(bad) == 2 and (bad["status"] == "diverged").all()
    assert bad["mcc_batch"].isna().all()
    for run_id in bad["run_id"]:
        final = json.loads((exp / "runs" / run_id / "final.json").read_text())
        assert final["status"] == "diverged"
        assert final["epochs_trained"] == 1  # it stopped updating at once
    good = summary[~summary["run_id"].str.startswith(DIVERGING)]
    assert (good["status"] == "ok").all() and good["mcc_batch"].notna().all()

    table = pd.read_csv(uninterrupted / "tables" / f"{E1}.csv")
    assert table.loc[table["gamma2"] == 3e38, "failed"].item() == 2
    caption = (uninterrupted / "figures" / f"{E1}.caption.md").read_text()
    assert "2 diverged" in caption
