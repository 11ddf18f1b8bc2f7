"""The docs stand on their own and stay true: the README is short and its links resolve, every
doc link resolves, nothing outside the tests points beside the repository, each paper's page has
the sections the registry cites, and the scorecard snapshot holds exactly the claims the
registry declares for the default preset's experiments."""

import re
import subprocess
from importlib import import_module

import pytest
from helpers import ROOT, workflow_config

from identvae.experiments import registry
from identvae.report.snapshot import claim_ids

DOCS = sorted((ROOT / "docs").rglob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]
#: [text](target) links; targets that are URLs or anchors only are not files
LINK = re.compile(r"\]\(([^)\s]+)\)")
#: paths in backticks that name a file of the repository: docs, sources, tests, benchmarks
PATH = re.compile(r"`((?:docs|src|tests|benchmarks|workflow|config)/[^`*<>\s]+)`")


def test_the_readme_is_short():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= 200, f"README.md has {lines} lines"


def test_performance_doc_is_short():
    lines = (ROOT / "docs/performance.md").read_text().count("\n")
    assert lines <= 300, f"docs/performance.md has {lines} lines"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_and_named_file_resolves(page):
    text = page.read_text()
    missing = []
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            missing.append(target)
    for target in PATH.findall(text):
        target = target.rstrip(".,;:)")
        if "{" not in target and not (ROOT / target).exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(ROOT)} names missing files: {missing}"


def test_the_link_check_catches_a_missing_file(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("see [this](nowhere.md) and `docs/nowhere.md`")
    assert LINK.findall(page.read_text()) == ["nowhere.md"]
    assert PATH.findall(page.read_text()) == ["docs/nowhere.md"]


def test_nothing_but_the_tests_points_beside_the_repository():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    allowed = {"tests/test_official_data.py", "tests/test_docs.py"}
    offenders = [
        name
        for name in tracked
        if name not in allowed
        and (ROOT / name).is_file()
        and (ROOT / name).suffix in {".py", ".md", ".yaml", ".smk", ".sh", ".j2", ".rst", ".toml"}
        and "../shared" in (ROOT / name).read_text(errors="ignore")
    ]
    assert offenders == []


def test_the_docs_speak_of_the_project_only():
    words = re.compile(r"\bsessions?\b|\bissue \d+", re.IGNORECASE)
    found = [
        f"{page.relative_to(ROOT)}: {m.group(0)}"
        for page in PAGES
        for m in words.finditer(page.read_text())
    ]
    assert found == []


def test_each_paper_page_has_the_sections_the_registry_cites():
    for paper, path in registry.SPECS.items():
        text = (ROOT / path).read_text()
        headings = re.findall(r"(?m)^## (\d+)\.", text)
        for exp in registry.EXPERIMENTS.values():
            if exp.paper != paper:
                continue
            section = exp.spec_section.split(",")[0].strip()
            if section.isdigit():
                assert section in headings, f"{exp.name}: no section {section} in {path}"
            else:  # E1 ... E6
                assert re.search(rf"\*\*{section}\*\*", text), f"{exp.name}: no {section} in {path}"


def declared_claims(experiments) -> list[str]:
    ids = []
    for name in experiments:
        module = import_module(f"identvae.experiments.{registry.get(name).module}")
        ids += [claim.claim_id for claim in module.CLAIMS]
    return ids


def test_the_scorecard_snapshot_holds_the_default_presets_claims():
    """A snapshot may be stale (numbers of an older run) but never incomplete: its claim ids
    are exactly those the default preset's experiments declare."""
    snapshot = (ROOT / "docs/scorecard.md").read_text()
    assert snapshot.startswith("<!-- Made by `identvae snapshot`")
    for field in ("made by", "code", "run ended", "machine", "wall time"):
        assert f"| {field} |" in snapshot, field
    enabled = workflow_config()  # the default preset: config/config.yaml
    assert sorted(claim_ids(snapshot)) == sorted(declared_claims(enabled))
