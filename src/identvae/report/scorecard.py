"""The scorecard: every claim of every experiment, per paper in the registry's order, with the
paper's value, ours, the verdict and how it was judged, and the count of each verdict.

Pure functions of the claims table (``results/claims.csv``) and the list of experiments that
ran; a registered experiment that did not run is listed as such, never given invented claims."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from identvae.claims import COLUMNS, NO_DATA, NOT_REPRODUCED, PARTLY, REPORTED, REPRODUCED
from identvae.experiments import registry
from identvae.io import ArtifactError

#: the verdicts in the order the scorecard counts them: judged best first, then unjudged
ORDER = (REPRODUCED, PARTLY, NOT_REPRODUCED, REPORTED, NO_DATA)
#: the pseudo-paper of claims whose experiment the registry does not know
OTHER = "other"
OTHER_TITLE = "Experiments not in the registry"


def read_claims(path: str | os.PathLike) -> pd.DataFrame:
    """``results/claims.csv`` as strings (``n/a`` and empty cells kept as written). An
    :class:`~identvae.io.ArtifactError` names the file when it is missing, lacks a column or
    holds a verdict outside the vocabulary of :mod:`identvae.claims`."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ArtifactError(f"missing claims table: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ArtifactError(f"corrupt claims table {path}: {err}") from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ArtifactError(f"claims table {path}: no column(s) {missing}")
    unknown = sorted(set(table["verdict"]) - set(ORDER))
    if unknown:
        raise ArtifactError(f"claims table {path}: unknown verdict(s) {unknown}; known: {ORDER}")
    return table[COLUMNS]


def count_verdicts(claims: pd.DataFrame) -> dict[str, int]:
    """How many claims have each verdict, every verdict of :data:`ORDER` included (0 if none)."""
    counts = claims["verdict"].value_counts()
    return {verdict: int(counts.get(verdict, 0)) for verdict in ORDER}


def counts_line(counts: Mapping[str, int]) -> str:
    """``17 claims: 6 reproduced, 0 partly reproduced, 7 not reproduced, 1 reported, 3 no
    data``."""
    total = sum(counts.values())
    parts = ", ".join(f"{counts.get(verdict, 0)} {verdict}" for verdict in ORDER)
    return f"{total} claim{'' if total == 1 else 's'}: {parts}"


@dataclass
class ExperimentCard:
    """One experiment's place on the scorecard: whether it ran, and its claims' rows."""

    name: str
    spec_section: str
    reproduces: str
    ran: bool
    claims: pd.DataFrame


@dataclass
class PaperCard:
    """One paper: its experiments in the registry's order and the counts of its claims."""

    key: str
    title: str
    experiments: list[ExperimentCard] = field(default_factory=list)

    @property
    def claims(self) -> pd.DataFrame:
        frames = [e.claims for e in self.experiments]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)

    @property
    def counts(self) -> dict[str, int]:
        return count_verdicts(self.claims)


def scorecard(claims: pd.DataFrame, ran: Iterable[str]) -> list[PaperCard]:
    """Every paper of the registry (in its order) with its experiments (in the registry's order)
    and their claims (in the table's order). An experiment ran when it is named in ``ran`` (the
    enabled experiments) or has claims in the table. Claims of an experiment the registry does
    not know are kept under a last pseudo-paper :data:`OTHER`, so that no row is dropped."""
    ran = set(ran) | set(claims["experiment"])
    cards = {key: PaperCard(key, title) for key, title in registry.PAPERS.items()}
    for exp in registry.EXPERIMENTS.values():
        rows = claims[claims["experiment"] == exp.name].reset_index(drop=True)
        card = ExperimentCard(exp.name, exp.spec_section, exp.reproduces, exp.name in ran, rows)
        cards[exp.paper].experiments.append(card)
    named = dict.fromkeys(claims["experiment"])
    unknown = [name for name in named if name not in registry.EXPERIMENTS]
    if unknown:
        other = PaperCard(OTHER, OTHER_TITLE)
        for name in unknown:
            rows = claims[claims["experiment"] == name].reset_index(drop=True)
            other.experiments.append(ExperimentCard(name, "", "", True, rows))
        cards[OTHER] = other
    return list(cards.values())


def total_counts(cards: Iterable[PaperCard]) -> dict[str, int]:
    """The counts over every paper."""
    totals = dict.fromkeys(ORDER, 0)
    for card in cards:
        for verdict, n in card.counts.items():
            totals[verdict] += n
    return totals


def _cell(text: str) -> str:
    """A Markdown table cell: pipes escaped, line breaks flattened."""
    return " ".join(str(text).split()).replace("|", "\\|")


def to_markdown(cards: list[PaperCard], preset: str, source: str = "results/claims.csv") -> str:
    """The scorecard as Markdown: the counts over every paper, then per paper its counts and a
    table of every claim; experiments that did not run or declare no claims are named below
    their paper's table. Nothing time- or commit-dependent, so that it diffs cleanly in git."""
    lines = [
        "# Reproduction scorecard",
        "",
        f"Preset **{preset}**; every claim of `{source}`, judged by the rule in its last column.",
        "",
        f"**All papers: {counts_line(total_counts(cards))}**",
    ]
    for card in cards:
        lines += ["", f"## {card.title}", ""]
        if not card.experiments:
            lines.append("No experiments yet.")
            continue
        lines.append(f"**{counts_line(card.counts)}**")
        rows = card.claims
        if len(rows):
            lines += [
                "",
                "| claim | experiment | what the paper claims | paper | ours | verdict "
                "| how it was judged |",
                "|---|---|---|---|---|---|---|",
            ]
            for row in rows.itertuples(index=False):
                cells = [
                    f"`{_cell(row.claim_id)}`",
                    f"`{_cell(row.experiment)}`",
                    _cell(row.claim),
                    _cell(row.paper_value),
                    _cell(row.ours),
                    f"**{_cell(row.verdict)}**",
                    _cell(row.detail),
                ]
                lines.append("| " + " | ".join(cells) + " |")
        not_run = [e for e in card.experiments if not e.ran]
        silent = [e for e in card.experiments if e.ran and not len(e.claims)]
        if not_run:
            names = ", ".join(f"`{e.name}` ({e.spec_section})" for e in not_run)
            lines += ["", f"Not run with this preset: {names}."]
        if silent:
            names = ", ".join(f"`{e.name}`" for e in silent)
            lines += ["", f"Ran, but declares no claims: {names}."]
    return "\n".join(lines) + "\n"
