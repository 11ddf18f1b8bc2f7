"""Shared test setup: the E1 data config and the real snakemake command."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def e1_data(n_samples: int) -> dict:
    """E1's data settings (Möbius mixing of uniform sources) at a test-sized sample count."""
    return {
        "mixing": "moebius",
        "sources": "uniform",
        "n_sources": 3,
        "n_samples": n_samples,
        "split": [0.7, 0.2, 0.1],
        "center": True,
    }


def run_snakemake(workdir: Path, configfile: Path, *args: str) -> subprocess.CompletedProcess:
    """This repository's workflow, run in ``workdir`` with ``configfile`` merged on top."""
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
    command += ["--directory", str(workdir), "--configfile", str(configfile), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
