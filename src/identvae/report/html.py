"""The HTML report: one self-contained page (``results/report/index.html``) rendered with Jinja
from the workflow's artifacts.

Papers in the registry's order; in each, its scorecard counts, then every experiment in the
registry's order: each figure (the PNG inline as a data URI, the PDF linked), its data-derived
caption and its provenance record, the experiment's claims with their verdicts, its table, and
a collapsible provenance block (preset, merged settings, code version, when it was drawn, and
the compute cost summed from the benchmark files). A registered experiment that did not run is
shown as not run; an artifact that is missing is named on the page instead of failing the
build. No JavaScript, no external resource: the page reads offline, and the PDF links work as
long as the page stays beside ``results/figures/``."""

from __future__ import annotations

import base64
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import yaml
from markupsafe import Markup, escape

from identvae import provenance
from identvae.compute_cost import ALL, RULE_ORDER, job_table
from identvae.experiments import registry
from identvae.io import ArtifactError, write_text
from identvae.report.scorecard import (
    ORDER,
    ExperimentCard,
    PaperCard,
    read_claims,
    scorecard,
    to_markdown,
    total_counts,
)
from identvae.tables import format_frame

TEMPLATE = "report.html.j2"


def verdict_class(verdict: str) -> str:
    """The CSS class of a verdict: ``not reproduced`` -> ``v-not-reproduced``."""
    return "v-" + re.sub(r"[^a-z]+", "-", verdict.lower()).strip("-")


def inline_markup(text: str) -> Markup:
    """A caption's text, escaped, with Markdown's inline code spans (backticks) as <code>."""
    parts = re.split(r"`([^`]+)`", str(text).strip())
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if i % 2 else escape(part)
        for i, part in enumerate(parts)
    )


@dataclass
class Artifact:
    """A file the page shows or links: its path relative to the page, or why it is missing."""

    path: Path
    href: str

    @property
    def exists(self) -> bool:
        return self.path.is_file()


@dataclass
class FigureView:
    name: str
    png: Artifact
    pdf: Artifact
    caption_file: Artifact
    provenance_file: Artifact
    image: str | None = None  # the PNG as a data URI
    caption: Markup | None = None
    record: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def code_version(self) -> str | None:
        return provenance.describe_version(self.record["code_version"]) if self.record else None


@dataclass
class ExperimentView:
    name: str
    spec_section: str
    reproduces: str
    ran: bool
    claims: list[dict[str, str]]
    figures: list[FigureView] = field(default_factory=list)
    table: Markup | None = None
    table_file: Artifact | None = None
    preset: str | None = None
    settings: str | None = None  # the merged settings as YAML
    settings_file: Artifact | None = None
    cost: list[dict[str, str]] = field(default_factory=list)
    cost_error: str | None = None

    @property
    def anchor(self) -> str:
        return f"exp-{self.name}"

    @property
    def spec_label(self) -> str:
        """The spec section as shown: ``E1`` as is, a numbered section as ``§5``."""
        return f"§{self.spec_section}" if self.spec_section[:1].isdigit() else self.spec_section

    @property
    def code_versions(self) -> list[str]:
        return sorted({f.code_version for f in self.figures if f.code_version})

    @property
    def drawn(self) -> list[str]:
        return sorted({f.record["created"] for f in self.figures if f.record})


@dataclass
class PaperView:
    key: str
    title: str
    counts: dict[str, int]
    experiments: list[ExperimentView]

    @property
    def ran(self) -> bool:
        return any(e.ran for e in self.experiments)


def _href(path: Path, page_dir: Path) -> str:
    return Path(os.path.relpath(path, page_dir)).as_posix()


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _figure_view(results: Path, page_dir: Path, name: str) -> FigureView:
    base = results / "figures"
    files = {
        kind: Artifact(base / f"{name}{suffix}", _href(base / f"{name}{suffix}", page_dir))
        for kind, suffix in [
            ("png", ".png"),
            ("pdf", ".pdf"),
            ("caption_file", ".caption.md"),
            ("provenance_file", ".provenance.json"),
        ]
    }
    view = FigureView(name, **files)
    for artifact in files.values():
        if not artifact.exists:
            view.problems.append(f"missing: {artifact.href}")
    if view.png.exists:
        view.image = _data_uri(view.png.path)
    if view.caption_file.exists:
        view.caption = inline_markup(view.caption_file.path.read_text())
    if view.provenance_file.exists:
        try:
            view.record = provenance.read_record(view.provenance_file.path)
        except ArtifactError as err:
            view.problems.append(str(err))
    return view


def _table_html(path: Path) -> Markup:
    """A table file as HTML, numbers formatted as in its Markdown; a zero-width space after each
    underscore of a column name lets long names (``log10_gamma2_reached_median``) wrap."""
    table = format_frame(pd.read_csv(path))
    table.columns = [str(c).replace("_", "_\u200b") for c in table.columns]
    return Markup(table.to_html(index=False, border=0, classes="data", escape=True))


def _seconds(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if value >= 120:
        return f"{value:,.0f} s ({value / 60:.1f} min)"
    return f"{value:.1f} s"


def experiment_cost(jobs: pd.DataFrame, experiment: str) -> list[dict[str, str]]:
    """The compute cost of one experiment's jobs per rule, then their total: jobs, runs trained,
    summed wall time and CPU time. Its jobs are those under ``results/<exp>/benchmarks/`` and
    the figure jobs of its figures (``results/benchmarks/figure_<fig>.tsv``)."""
    figures = set(registry.FIGURES.get(experiment, ()))
    mine = jobs[
        (jobs["experiment"] == experiment)
        | ((jobs["experiment"] == ALL) & (jobs["rule"] == "figure") & jobs["job"].isin(figures))
    ]
    if mine.empty:
        return []

    def row(name: str, part: pd.DataFrame) -> dict[str, str]:
        runs = part.loc[part["rule"] == "train", "runs"]
        return {
            "rule": name,
            "jobs": str(len(part)),
            "runs": str(int(runs.sum())) if runs.notna().any() else "",
            "wall": _seconds(float(part["wall_s"].sum())),
            "cpu": _seconds(float(part["cpu_s"].sum(min_count=1))),
        }

    def key(rule: str) -> tuple[int, str]:
        return (RULE_ORDER.index(rule) if rule in RULE_ORDER else len(RULE_ORDER), rule)

    rows = [row(r, mine[mine["rule"] == r]) for r in sorted(set(mine["rule"]), key=key)]
    return [*rows, row("total", mine)]


def _experiment_view(
    results: Path,
    page_dir: Path,
    card_exp: ExperimentCard,
    jobs: pd.DataFrame | None,
    jobs_error: str | None,
) -> ExperimentView:
    view = ExperimentView(
        card_exp.name,
        card_exp.spec_section,
        card_exp.reproduces,
        card_exp.ran,
        card_exp.claims.to_dict("records"),
    )
    if not view.ran:
        return view
    view.figures = [
        _figure_view(results, page_dir, fig) for fig in registry.FIGURES.get(view.name, ())
    ]
    table = results / "tables" / f"{view.name}.csv"
    view.table_file = Artifact(table, _href(table, page_dir))
    if view.table_file.exists:
        view.table = _table_html(table)
    settings = results / view.name / "settings.yaml"
    view.settings_file = Artifact(settings, _href(settings, page_dir))
    if view.settings_file.exists:
        merged = yaml.safe_load(settings.read_text()) or {}
        view.preset = merged.get("preset")
        view.settings = yaml.safe_dump(
            merged.get("settings", {}), sort_keys=False, allow_unicode=True
        )
    view.cost_error = jobs_error
    if jobs is not None:
        view.cost = experiment_cost(jobs, view.name)
    return view


def page_context(
    results: Path, page_dir: Path, cards: list[PaperCard], preset: str
) -> dict[str, Any]:
    """Everything the template shows: the scorecard's ``cards`` and the artifacts under
    ``results``, with links relative to ``page_dir``."""
    try:
        jobs, jobs_error = job_table(results), None
    except ArtifactError as err:
        jobs, jobs_error = None, str(err)
    papers = [
        PaperView(
            card.key,
            card.title,
            card.counts,
            [_experiment_view(results, page_dir, e, jobs, jobs_error) for e in card.experiments],
        )
        for card in cards
    ]
    return {
        "preset": preset,
        "papers": papers,
        "order": ORDER,
        "totals": total_counts(cards),
        "code_version": provenance.describe_version(provenance.code_version()),
        "built": provenance.now(),
        "claims_href": _href(results / "claims.csv", page_dir),
        "scorecard_href": _href(results / "scorecard.md", page_dir),
    }


def environment() -> jinja2.Environment:
    """The Jinja environment of the report's templates (shipped as package data); every value
    is HTML-escaped unless marked safe, and an undefined name is an error, not a blank."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("identvae.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["verdict_class"] = verdict_class
    return env


def render(context: dict[str, Any]) -> str:
    return environment().get_template(TEMPLATE).render(**context)


def build_report(
    results: str | os.PathLike,
    html: str | os.PathLike,
    scorecard_md: str | os.PathLike,
    experiments: Sequence[str],
    preset: str,
) -> list[PaperCard]:
    """Write the scorecard (Markdown) and the HTML page (both atomically) from the artifacts
    under ``results``; ``experiments``: the experiments enabled in the config (the others are
    shown as not run). Returns the scorecard's papers."""
    results, html = Path(results), Path(html)
    cards = scorecard(read_claims(results / "claims.csv"), experiments)
    source = (results / "claims.csv").as_posix()
    write_text(scorecard_md, to_markdown(cards, preset, source=source))
    write_text(html, render(page_context(results, html.parent, cards, preset)))
    return cards
