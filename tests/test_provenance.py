"""Figure provenance: known hashes, the code version inside and outside a git checkout, a record
that detects a changed input; and on the smoke outputs, every figure's record names real
functions, the files it was drawn from (whose hashes still match), the preset and settings."""

import importlib
import json
import re
import shutil
import subprocess
from importlib import metadata

import pytest
import yaml
from helpers import ROOT

from identvae import provenance
from identvae.experiments import registry

# SHA-256 test vector of FIPS 180-2 (the message "abc")
ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo, *args):
    command = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    return subprocess.run([*command, *args], check=True, capture_output=True, text=True).stdout


def test_sha256_of_a_known_message(tmp_path):
    path = tmp_path / "abc.txt"
    path.write_bytes(b"abc")
    assert provenance.sha256_file(path) == ABC_SHA256
    assert provenance.file_record(path) == {"path": str(path), "bytes": 3, "sha256": ABC_SHA256}


@needs_git
def test_code_version_in_a_git_checkout_names_the_commit_and_dirty_state(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "code.py").write_text("x = 1\n")
    git(repo, "add", "code.py")
    git(repo, "commit", "-q", "-m", "first")
    head = git(repo, "rev-parse", "HEAD").strip()
    clean = provenance.code_version(repo)
    assert clean["commit"] == head and clean["dirty"] is False
    (repo / "untracked.txt").write_text("not part of the code\n")
    assert provenance.code_version(repo)["dirty"] is False
    (repo / "code.py").write_text("x = 2\n")
    dirty = provenance.code_version(repo)
    assert dirty["commit"] == head and dirty["dirty"] is True
    assert "uncommitted" in provenance.describe_version(dirty)
    assert head[:12] in provenance.describe_version(dirty)


def test_outside_a_git_checkout_the_package_version_is_the_answer(tmp_path):
    version = provenance.code_version(tmp_path)
    assert version["commit"] is None and version["dirty"] is None
    assert version["identvae"] == metadata.version("identvae")
    assert provenance.describe_version(version) == (
        f"identvae {metadata.version('identvae')} (not a git checkout)"
    )


def test_a_record_round_trips_and_detects_a_changed_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    summary, png = tmp_path / "results/summary.csv", tmp_path / "results/f.png"
    summary.write_bytes(b"abc")
    png.write_bytes(b"\x89PNG fake")
    record = provenance.figure_record(
        figure="f",
        experiment="etg_x",
        reproduces="E0",
        module="identvae.experiments.etg.x",
        draw="figure",
        caption="caption",
        inputs={"summary": "results/summary.csv"},
        outputs={"png": "results/f.png"},
        preset="unit",
        settings={"train": {"lr": 1e-3}},
    )
    path = tmp_path / "results/f.provenance.json"
    provenance.write_record(path, record)
    assert not list(path.parent.glob(".*.tmp*")), "a temporary file was left behind"
    back = provenance.read_record(path)
    assert back["inputs"]["summary"]["sha256"] == ABC_SHA256
    assert back["drawn_by"] == "identvae.experiments.etg.x.figure"
    assert back["settings"] == {"train": {"lr": 1e-3}}
    assert back["preset"] == "unit" and back["created"].endswith("+00:00")
    assert back["versions"]["python"] and "snakemake" in back["versions"]
    assert provenance.check_files(back) == []
    summary.write_bytes(b"abd")
    assert provenance.check_files(back) == ["inputs.summary: results/summary.csv"]
    png.unlink()
    assert "outputs.png: results/f.png" in provenance.check_files(back)


@pytest.mark.workflow
def test_every_smoke_figure_has_a_record_that_traces_it_back(smoke):
    workdir = smoke.parent
    in_git_checkout = provenance.code_version(ROOT / "src/identvae")["commit"] is not None
    figures = [fig for exp in registry.EXPERIMENTS for fig in registry.FIGURES[exp]]
    drawn = [fig for fig in figures if (smoke / "figures" / f"{fig}.png").exists()]
    assert drawn, "the smoke preset drew no figure"
    for fig in drawn:
        record = json.loads((smoke / "figures" / f"{fig}.provenance.json").read_text())
        exp, entry = registry.figure_entry(fig)
        assert record["figure"] == fig and record["experiment"] == exp.name
        module = importlib.import_module(exp.module_path)
        for key, name in (("drawn_by", entry.draw), ("caption_by", entry.caption)):
            assert record[key] == f"{exp.module_path}.{name}"
            assert callable(getattr(module, record[key].rsplit(".", 1)[1]))
        assert set(record["inputs"]) == set(registry.figure_input_paths(fig))
        for name, path in registry.figure_input_paths(fig).items():
            assert record["inputs"][name]["path"] == path
        assert set(record["outputs"]) == {"pdf", "png", "caption"}
        assert provenance.check_files(record, workdir) == [], fig
        settings = yaml.safe_load((smoke / exp.name / "settings.yaml").read_text())
        assert record["preset"] == settings["preset"] == "smoke"
        assert record["settings"] == settings["settings"]
        version = record["code_version"]
        assert version["identvae"] == metadata.version("identvae")
        if in_git_checkout:
            assert re.fullmatch(r"[0-9a-f]{40}", version["commit"]), version
            assert isinstance(version["dirty"], bool)
