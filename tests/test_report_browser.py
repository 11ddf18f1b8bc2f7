"""The HTML report in a real browser: built from the smoke outputs, opened in headless Chromium
(Debian's ``chromium``, driven by Playwright's Python API through its executable path): every
paper section and every figure of every experiment that ran is present, every image loads,
there is no console error, and a full-page screenshot is saved (its path is printed).

Skipped when Chromium or Playwright is missing, unless ``IDENTVAE_REQUIRE_BROWSER=1`` (set by
``.ci/run``), which turns the skip into a failure."""

import os
import shutil
from pathlib import Path

import pytest
from helpers import ROOT, run_snakemake

from identvae.experiments import registry
from identvae.report.screenshot import CHROMIUM_ARGS, chromium_path

pytestmark = pytest.mark.workflow

SMOKE_PRESET = ROOT / "config/presets/smoke.yaml"
SCREENSHOT = "report-screenshot.png"


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium, or a skip (a failure under IDENTVAE_REQUIRE_BROWSER=1)."""
    missing = []
    executable = chromium_path()
    if executable is None:
        missing.append("no chromium on PATH (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("no playwright (pip install -e '.[test]')")
    if missing:
        why = "; ".join(missing)
        if os.environ.get("IDENTVAE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"IDENTVAE_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page_file(smoke):
    """The report, (re)built by its target from the smoke outputs."""
    proc = run_snakemake(smoke.parent, SMOKE_PRESET, "--cores", "1", "results/report/index.html")
    assert proc.returncode == 0, proc.stderr[-4000:]
    path = smoke / "report" / "index.html"
    assert path.stat().st_size > 0
    return path


@pytest.fixture(scope="module")
def loaded(browser, page_file, smoke, tmp_path_factory):
    """The page loaded, what the browser complained about, and the screenshot's path."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = []

    def on_console(msg):
        if msg.type in ("error", "warning"):
            problems.append(f"console {msg.type}: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}"))
    page.goto(page_file.as_uri(), wait_until="load")
    screenshot = smoke.parent / SCREENSHOT
    page.screenshot(path=str(screenshot), full_page=True)
    copy = tmp_path_factory.getbasetemp() / SCREENSHOT
    shutil.copyfile(screenshot, copy)
    print(f"\nreport screenshot: {screenshot}\n(copy: {copy})")
    yield page, problems, screenshot
    page.close()


def ran_experiments(smoke) -> list[str]:
    return [name for name in registry.EXPERIMENTS if (smoke / name / "summary.csv").exists()]


def test_every_paper_has_its_section(loaded, record_property):
    page, _, screenshot = loaded
    record_property("screenshot", str(screenshot))
    for key, title in registry.PAPERS.items():
        section = page.locator(f'section.paper[data-paper="{key}"]')
        assert section.count() == 1, key
        assert section.locator("h2").inner_text() == title
        if not any(e.paper == key for e in registry.EXPERIMENTS.values()):
            assert "No experiments yet" in section.inner_text(), key


def test_every_experiment_is_shown_in_the_registry_order(loaded, smoke):
    page, _, _ = loaded
    for key in registry.PAPERS:
        shown = page.locator(f'section.paper[data-paper="{key}"] article.experiment')
        names = [shown.nth(i).get_attribute("data-experiment") for i in range(shown.count())]
        assert names == [e.name for e in registry.EXPERIMENTS.values() if e.paper == key]
    ran = set(ran_experiments(smoke))
    assert ran, "the smoke preset ran no registered experiment"
    for name in registry.EXPERIMENTS:
        article = page.locator(f'article[data-experiment="{name}"]')
        assert article.get_attribute("data-ran") == ("true" if name in ran else "false"), name


def test_every_figure_of_every_experiment_that_ran_is_there_and_loads(loaded, smoke):
    page, _, screenshot = loaded
    expected = [fig for name in ran_experiments(smoke) for fig in registry.FIGURES[name]]
    for fig in expected:
        figure = page.locator(f'figure[data-figure="{fig}"]')
        assert figure.count() == 1, fig
        img = figure.locator("img")
        assert img.count() == 1, f"{fig}: no image"
        assert img.evaluate("el => el.complete && el.naturalWidth > 0"), f"{fig}: image broken"
        assert "Preset: smoke" in figure.locator("figcaption").inner_text(), fig
        pdf = figure.locator("a", has_text="PDF").get_attribute("href")
        target = (smoke / "figures" / f"{fig}.pdf").resolve()
        assert (smoke / "report" / pdf).resolve() == target, fig
    images = page.locator("img")
    assert images.count() == len(expected)
    widths = images.evaluate_all("els => els.map(el => el.naturalWidth)")
    assert all(w > 0 for w in widths), f"{widths}; screenshot: {screenshot}"


def test_no_image_overflows_the_page(loaded):
    page, _, screenshot = loaded
    overflow = page.evaluate(
        "() => [...document.querySelectorAll('img')].filter(el => "
        "el.getBoundingClientRect().right > document.documentElement.clientWidth).length"
    )
    assert overflow == 0, f"{overflow} image(s) wider than the page; screenshot: {screenshot}"


def test_the_browser_reports_no_error(loaded):
    _, problems, screenshot = loaded
    assert problems == [], f"{problems}; screenshot: {screenshot}"
    assert Path(screenshot).read_bytes()[:4] == b"\x89PNG"
