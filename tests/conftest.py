"""Fixtures shared by the end-to-end tests: one smoke-preset run of the whole workflow per test
session, in a scratch directory."""

import pytest
from helpers import ROOT, run_snakemake


@pytest.fixture(scope="session")
def smoke_workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("smoke")
    proc = run_snakemake(workdir, ROOT / "config/presets/smoke.yaml", "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


@pytest.fixture(scope="session")
def smoke(smoke_workdir):
    """The smoke preset's results/ directory."""
    return smoke_workdir / "results"
