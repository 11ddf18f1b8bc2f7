"""`snakemake --report` (Snakemake's own report; the one to read is results/report/index.html)
builds from the smoke outputs: one category per paper, one subcategory per experiment, every
figure and table in its place, and each figure's caption names its experiment."""

import json
import re
import subprocess
import sys

import pytest
from helpers import ROOT

from identvae.experiments import registry

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def report(smoke_workdir):
    path = smoke_workdir / "report.html"
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
    command += ["--directory", str(smoke_workdir)]
    command += ["--configfile", str(ROOT / "config/presets/smoke.yaml"), "--report", str(path)]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    html = path.read_text()
    return {
        "categories": _embedded(html, "categories"),
        "results": _embedded(html, "results"),
    }


def _embedded(html: str, name: str) -> dict:
    """A JSON object the report embeds as ``var <name> = {...};``."""
    match = re.search(rf"var {name} = (\{{.*?\}});\n", html, re.S)
    assert match, f"the report embeds no '{name}'"
    return json.loads(match.group(1))


def test_one_category_per_paper_and_one_subcategory_per_experiment(report, smoke):
    ran = {p.name for p in smoke.iterdir() if p.is_dir() and p.name in registry.EXPERIMENTS}
    assert ran, "the smoke preset ran no registered experiment"
    for name in ran:
        exp = registry.get(name)
        files = report["categories"][registry.PAPERS[exp.paper]][name]
        assert f"results/tables/{name}.csv" in files
        for fig in registry.FIGURES[name]:
            assert f"results/figures/{fig}.pdf" in files


def test_each_figure_caption_names_its_experiment(report, smoke):
    figures = {
        key: record
        for key, record in report["results"].items()
        if key.startswith("results/figures/")
    }
    assert figures
    for key, record in figures.items():
        fig = key.removeprefix("results/figures/").removesuffix(".pdf")
        exp = registry.figure_experiment(fig)
        assert exp in record["caption"], (fig, record["caption"])
        assert registry.get(exp).reproduces.split(":")[0] in record["caption"]
        assert "{{" not in record["caption"], "an unrendered template variable"
