"""Paper claims, declared as data and judged by one function.

A :class:`Claim` states what the paper says (id, text, the paper's value), how to measure it on
our runs (a *statistic*: a function of the experiment's data and context), and how the number is
judged: a :class:`Threshold` (reproduced at X, partly at Y, higher or lower is better, plus
optional :class:`Condition` s such as "p < 0.05") and the minimum number of finished runs per
group. A claim without a threshold is *reported*: the paper asks for the number but gives none to
compare with. :func:`judge` turns a claim and the data into a :class:`ClaimResult` and writes the
rule into its ``detail``; nothing is hard-coded, so the claims table changes when the results do.

Each experiment module declares its claims in ``CLAIMS``; :func:`judge_all` judges them and
:func:`write_claims` writes the rows of every experiment into one CSV."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from identvae.io import atomic_path

if TYPE_CHECKING:
    from identvae.experiments.inputs import ExperimentData

REPRODUCED = "reproduced"
PARTLY = "partly reproduced"
NOT_REPRODUCED = "not reproduced"
NO_DATA = "no data"
#: For what the paper asks to report without a value to compare with: the value is not judged.
REPORTED = "reported"
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, NO_DATA, REPORTED)
#: The graded verdicts, best first (a failed condition moves a verdict down this list).
_LEVELS = (REPRODUCED, PARTLY, NOT_REPRODUCED)


@dataclass(frozen=True)
class ClaimResult:
    """One paper claim checked against our data; ``detail`` says how ``verdict`` was reached."""

    claim_id: str
    experiment: str
    claim: str
    paper_value: str
    ours: str
    verdict: str
    detail: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} not one of {VERDICTS}")


COLUMNS = [f.name for f in fields(ClaimResult)]


# --- what a statistic returns -------------------------------------------------------------------


@dataclass(frozen=True)
class Runs:
    """A group of runs a statistic used: how many finished (``ok``) of how many (``total``)."""

    ok: int
    total: int

    def __str__(self) -> str:
        return f"{self.ok} ok of {self.total} run{'' if self.total == 1 else 's'}"


@dataclass(frozen=True)
class Measured:
    """A statistic's result: the graded ``value`` (NaN: no data), the text shown as ours, what
    the detail should say, the groups of runs behind it (each checked against the claim's
    minimum) and whether each of the claim's conditions holds (by condition name)."""

    value: float
    ours: str
    detail: str = ""
    groups: Mapping[str, Runs] = field(default_factory=dict)
    holds: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class NoData:
    """A statistic that cannot be computed, why (e.g. "no γ² below 1e4 in the sweep"), and
    the groups of runs it looked at."""

    reason: str
    groups: Mapping[str, Runs] = field(default_factory=dict)


Statistic = Callable[["ExperimentData", Any], Measured | NoData]


# --- how a claim is judged ----------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A second requirement on top of the threshold, reported by the statistic in
    :attr:`Measured.holds` under ``name``. When it fails, ``effect`` "demote" lowers the verdict
    by one level (reproduced -> partly -> not reproduced); "cap" keeps it at partly at best."""

    name: str
    text: str
    effect: Literal["demote", "cap"]


@dataclass(frozen=True)
class Threshold:
    """Reproduced when ``quantity`` reaches ``reproduced``, partly when it reaches ``partly``
    (reaches: ≥ when higher is better, ≤ when lower is; ``partly_strict``: > or < for partly)."""

    quantity: str
    reproduced: float
    partly: float
    higher_is_better: bool = True
    partly_strict: bool = False
    conditions: tuple[Condition, ...] = ()

    def __post_init__(self) -> None:
        ordered = (
            self.reproduced >= self.partly
            if self.higher_is_better
            else (self.reproduced <= self.partly)
        )
        if not ordered:
            raise ValueError(f"{self.quantity}: reproduced at {self.reproduced} is below partly")

    def grade(self, value: float, holds: Mapping[str, bool]) -> str:
        """The verdict of a finite ``value`` (see the class docstring)."""
        sign = 1.0 if self.higher_is_better else -1.0
        v, rep, part = sign * value, sign * self.reproduced, sign * self.partly
        if v >= rep:
            level = 0
        elif v > part or (v == part and not self.partly_strict):
            level = 1
        else:
            level = 2
        for cond in self.conditions:
            if not holds[cond.name]:
                level = min(level + 1, 2) if cond.effect == "demote" else max(level, 1)
        return _LEVELS[level]

    def text(self) -> str:
        """The rule in words, for the detail."""
        le, lt = ("≥", ">") if self.higher_is_better else ("≤", "<")
        rule = (
            f"reproduced if {self.quantity} {le} {self.reproduced:g}, partly if "
            f"{lt if self.partly_strict else le} {self.partly:g}"
        )
        for cond in self.conditions:
            if cond.effect == "demote":
                rule += f"; one level lower unless {cond.text}"
            else:
                rule += f"; reproduced only if {cond.text}"
        return rule


@dataclass(frozen=True)
class Claim:
    """One paper claim of ``experiment``; ``threshold`` None means reported, not judged.
    ``min_ok_runs``: every group of runs the statistic names needs this many finished runs."""

    claim_id: str
    experiment: str
    text: str
    paper_value: str
    statistic: Statistic
    threshold: Threshold | None
    min_ok_runs: int = 1

    def rule(self) -> str:
        judged = self.threshold.text() if self.threshold else "reported, not judged"
        runs = "run" if self.min_ok_runs == 1 else "runs"
        return f"{judged}; needs ≥ {self.min_ok_runs} ok {runs} per group"


def judge(claim: Claim, data: ExperimentData, ctx: Any) -> ClaimResult:
    """Measure ``claim`` on ``data`` and judge it. "no data" when the statistic cannot be
    computed, when a group has fewer than ``min_ok_runs`` finished runs, or when the value is
    not finite; the rule applied is written at the end of the detail."""
    outcome = claim.statistic(data, ctx)

    def result(ours: str, verdict: str, detail: str) -> ClaimResult:
        detail = f"{detail}; {claim.rule()}" if detail else claim.rule()
        return ClaimResult(
            claim.claim_id, claim.experiment, claim.text, claim.paper_value, ours, verdict, detail
        )

    groups = "; ".join(f"{name}: {runs}" for name, runs in outcome.groups.items())
    if isinstance(outcome, NoData):
        return result("n/a", NO_DATA, "; ".join(p for p in (outcome.reason, groups) if p))
    detail = "; ".join(part for part in (outcome.detail, groups) if part)
    short = [name for name, runs in outcome.groups.items() if runs.ok < claim.min_ok_runs]
    if short:
        why = f"fewer than {claim.min_ok_runs} ok runs in {', '.join(short)}"
        return result("n/a", NO_DATA, f"{why}; {detail}")
    if claim.threshold is None:
        return result(outcome.ours, REPORTED, detail)
    if not np.isfinite(outcome.value):
        return result(outcome.ours, NO_DATA, detail)
    return result(outcome.ours, claim.threshold.grade(outcome.value, outcome.holds), detail)


def judge_all(claims: Iterable[Claim], data: ExperimentData, ctx: Any) -> list[ClaimResult]:
    """:func:`judge` each claim, in order."""
    return [judge(claim, data, ctx) for claim in claims]


def write_claims(results: list[ClaimResult], path: str | os.PathLike) -> pd.DataFrame:
    """Write the claims of every experiment to one CSV (atomically); returns the table."""
    table = pd.DataFrame([asdict(r) for r in results], columns=COLUMNS)
    with atomic_path(path, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    return table
