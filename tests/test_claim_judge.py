"""The claim judge on known cases: a value on each side of each threshold (higher and lower is
better, strict bounds), conditions that demote or cap, too few runs, no data, reported."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from identvae.claims import (
    NO_DATA,
    NOT_REPRODUCED,
    PARTLY,
    REPORTED,
    REPRODUCED,
    Claim,
    Condition,
    Measured,
    NoData,
    Runs,
    Threshold,
    judge,
    judge_all,
)
from identvae.experiments.inputs import ExperimentData

DATA = ExperimentData(pd.DataFrame({"status": ["ok"]}))
HIGHER = Threshold("the value", reproduced=0.9, partly=0.8)
LOWER = Threshold("the error", reproduced=0.1, partly=0.3, higher_is_better=False)


def claim(outcome, threshold: Threshold | None = HIGHER, min_ok_runs: int = 1) -> Claim:
    """A claim whose statistic returns ``outcome`` whatever the data."""
    return Claim("X.c", "exp", "text", "paper", lambda data, ctx: outcome, threshold, min_ok_runs)


def verdict(value: float, threshold: Threshold, holds=None) -> str:
    return judge(
        claim(Measured(value, f"{value}", holds=holds or {}), threshold), DATA, None
    ).verdict


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.95, REPRODUCED), (0.9, REPRODUCED), (0.85, PARTLY), (0.8, PARTLY), (0.5, NOT_REPRODUCED)],
)
def test_higher_is_better(value, expected):
    assert verdict(value, HIGHER) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0, REPRODUCED), (0.1, REPRODUCED), (0.2, PARTLY), (0.3, PARTLY), (0.31, NOT_REPRODUCED)],
)
def test_lower_is_better(value, expected):
    assert verdict(value, LOWER) == expected


def test_a_strict_partly_bound_excludes_the_bound_itself():
    strict = Threshold("ρ", reproduced=-0.1, partly=0.0, higher_is_better=False, partly_strict=True)
    assert verdict(-0.1, strict) == REPRODUCED
    assert verdict(-0.01, strict) == PARTLY
    assert verdict(0.0, strict) == NOT_REPRODUCED
    assert "partly if < 0" in strict.text()


def test_a_failed_demoting_condition_lowers_the_verdict_one_level():
    sig = Condition("significant", "p < 0.05", "demote")
    rule = Threshold("ρ", reproduced=-0.3, partly=-0.1, higher_is_better=False, conditions=(sig,))
    assert verdict(-0.5, rule, {"significant": True}) == REPRODUCED
    assert verdict(-0.5, rule, {"significant": False}) == PARTLY
    assert verdict(-0.2, rule, {"significant": False}) == NOT_REPRODUCED
    assert verdict(0.2, rule, {"significant": False}) == NOT_REPRODUCED
    assert "one level lower unless p < 0.05" in rule.text()


def test_a_failed_capping_condition_keeps_at_most_partly():
    mono = Condition("monotone", "the medians fall at every step", "cap")
    rule = Threshold("ρ", reproduced=-0.9, partly=-0.7, higher_is_better=False, conditions=(mono,))
    assert verdict(-0.95, rule, {"monotone": True}) == REPRODUCED
    assert verdict(-0.95, rule, {"monotone": False}) == PARTLY
    assert verdict(-0.8, rule, {"monotone": False}) == PARTLY
    assert verdict(-0.5, rule, {"monotone": False}) == NOT_REPRODUCED


def test_thresholds_in_the_wrong_order_are_rejected():
    with pytest.raises(ValueError, match="below partly"):
        Threshold("x", reproduced=0.5, partly=0.8)


def test_the_detail_states_what_was_measured_the_groups_and_the_rule():
    result = judge(claim(Measured(0.92, "0.92", "median 0.920", {"γ² ≥ 1e4": Runs(5, 6)})), DATA, 0)
    assert (result.ours, result.verdict) == ("0.92", REPRODUCED)
    assert result.detail == (
        "median 0.920; γ² ≥ 1e4: 5 ok of 6 runs; reproduced if the value ≥ 0.9, partly if ≥ 0.8; "
        "needs ≥ 1 ok run per group"
    )
    assert (result.claim_id, result.experiment, result.claim, result.paper_value) == (
        "X.c",
        "exp",
        "text",
        "paper",
    )


def test_too_few_runs_in_any_group_is_no_data():
    groups = {"low": Runs(5, 5), "high": Runs(4, 6)}
    result = judge(claim(Measured(0.95, "0.95", groups=groups), min_ok_runs=5), DATA, None)
    assert (result.ours, result.verdict) == ("n/a", NO_DATA)
    assert result.detail.startswith("fewer than 5 ok runs in high;")
    enough = {"low": Runs(5, 5), "high": Runs(5, 6)}
    assert judge(claim(Measured(0.95, "0.95", groups=enough), min_ok_runs=5), DATA, None).verdict
    assert judge(claim(Measured(0.95, "", groups={"g": Runs(0, 3)})), DATA, None).verdict == NO_DATA


def test_a_statistic_without_data_or_without_a_finite_value_is_no_data():
    result = judge(claim(NoData("no γ² below 1e4", {"all": Runs(0, 2)})), DATA, None)
    assert (result.ours, result.verdict) == ("n/a", NO_DATA)
    assert result.detail.startswith("no γ² below 1e4; all: 0 ok of 2 runs; reproduced if")
    result = judge(claim(Measured(math.nan, "0.5 (target nan)")), DATA, None)
    assert (result.ours, result.verdict) == ("0.5 (target nan)", NO_DATA)


def test_a_reported_claim_shows_the_value_without_a_verdict():
    result = judge(claim(Measured(math.nan, "γ² → 10^3", "learned: ..."), threshold=None), DATA, 0)
    assert (result.ours, result.verdict) == ("γ² → 10^3", REPORTED)
    assert "reported, not judged" in result.detail
    assert judge(claim(NoData("no finished run"), threshold=None), DATA, 0).verdict == NO_DATA


def test_judge_all_keeps_the_order_and_passes_data_and_context():
    seen = []

    def statistic(data, ctx):
        seen.append((data, ctx))
        return Measured(ctx, f"{ctx}")

    claims = [Claim(f"X.{i}", "exp", "t", "p", statistic, HIGHER) for i in range(3)]
    results = judge_all(claims, DATA, 0.85)
    assert [r.claim_id for r in results] == ["X.0", "X.1", "X.2"]
    assert [r.verdict for r in results] == [PARTLY] * 3
    assert seen == [(DATA, 0.85)] * 3
