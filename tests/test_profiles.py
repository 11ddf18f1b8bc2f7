"""The shipped Snakemake profiles: every rule they name exists (Snakemake silently ignores a
misspelled rule under set-resources), and no job asks for its GPUs twice."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import ROOT

# profiles/default sits beside the Snakefile, where Snakemake looks for a workflow's default
# profile; the others are named with --workflow-profile workflow/profiles/<name>.
PROFILES = sorted(
    [*(ROOT / "profiles").glob("*/*.yaml"), *(ROOT / "workflow/profiles").glob("*/*.yaml")]
)
PROFILE_FILES = [p for p in PROFILES if p.name in ("config.yaml", "profile.yaml")]
RULE_KEYS = ("set-resources", "set-threads", "set-resource-scopes")


@pytest.fixture(scope="module")
def rule_names() -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--list-rules", "--quiet", "all"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    assert {"train", "dataset", "summary"} <= names, names
    return names


def named_rules(profile: dict) -> set[str]:
    return {rule for key in RULE_KEYS for rule in (profile.get(key) or {})}


def test_the_default_profile_is_loaded_wherever_the_workflow_runs(tmp_path):
    """Run from another directory with --directory elsewhere, Snakemake still reads it (it
    sets force-use-threads, so that dataset jobs run in Snakemake's process)."""
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile")]
        + ["--directory", str(tmp_path / "work"), "--cores", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = f"Using workflow specific profile {ROOT / 'profiles/default'}"
    assert expected in proc.stdout + proc.stderr
    profile = yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text())
    assert profile["force-use-threads"] is True


def test_there_are_profiles_to_check():
    names = {p.parent.name for p in PROFILE_FILES}
    assert {"default", "slurm"} <= names


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.parent.name)
def test_every_rule_named_in_a_profile_exists(path: Path, rule_names):
    profile = yaml.safe_load(path.read_text()) or {}
    unknown = named_rules(profile) - rule_names
    assert not unknown, f"{path.relative_to(ROOT)} names rules that do not exist: {unknown}"


def test_the_check_catches_a_misspelled_rule(rule_names):
    profile = {"set-resources": {"trian": {"mem_mb": 1000}}}
    assert named_rules(profile) - rule_names == {"trian"}


def gpu_requests_besides_the_rule(profile: dict) -> list[str]:
    """Profile resources that ask for GPUs on top of the train rule's own `gpu` resource."""
    resource_sets = [profile.get("default-resources") or {}]
    resource_sets += (profile.get("set-resources") or {}).values()
    return [
        f"{key}={value!r}"
        for resources in resource_sets
        for key, value in resources.items()
        if key in ("gres", "gpus", "slurm_extra") and "gpu" in str(value)
    ]


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.parent.name)
def test_gpus_are_requested_once(path: Path):
    profile = yaml.safe_load(path.read_text()) or {}
    assert not gpu_requests_besides_the_rule(profile), path.relative_to(ROOT)


def test_the_gpu_check_catches_a_gres_request():
    profile = {"set-resources": {"train": {"gres": "gpu:1", "cpus_per_task": 2}}}
    assert gpu_requests_besides_the_rule(profile) == ["gres='gpu:1'"]


def test_the_slurm_profile_uses_the_slurm_executor_and_no_site_values():
    profile = yaml.safe_load((ROOT / "workflow/profiles/slurm/profile.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["retries"] >= 1 and profile["rerun-incomplete"] and profile["keep-going"]
    for key in ("slurm_account", "slurm_partition"):
        assert "environ" in profile["default-resources"][key], key  # read, never hard-coded
