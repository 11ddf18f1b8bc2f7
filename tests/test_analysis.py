"""The analysis layer shared by figures and claims: finished runs, log scales, rank correlation,
log-log fits, chance levels and the shared caption phrases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from identvae.analysis import phrases
from identvae.analysis.chance import settings_chance_mcc
from identvae.analysis.correlation import rank_correlation
from identvae.analysis.fits import fit_loglog
from identvae.analysis.runs import finite_median, ok_count, ok_runs
from identvae.analysis.scales import safe_log10
from identvae.metrics.mcc import chance_mcc


def test_only_ok_runs_count():
    df = pd.DataFrame({"status": ["ok", "diverged", "ok", "failed"], "x": [1.0, 2.0, 3.0, 4.0]})
    assert ok_runs(df)["x"].tolist() == [1.0, 3.0] and ok_count(df) == 2
    assert len(ok_runs(df.drop(columns="status"))) == 4
    assert finite_median([1.0, np.nan, 3.0, np.inf]) == 2.0
    assert np.isnan(finite_median([np.nan]))


def test_safe_log10_maps_non_positive_to_nan():
    out = safe_log10(np.array([100.0, 0.0, -1.0, np.nan]))
    assert out[0] == 2.0 and np.isnan(out[1:]).all()


def test_rank_correlation_matches_scipy_and_refuses_degenerate_input():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=30), rng.normal(size=30)
    y[:5] = np.nan
    rho, p, n = rank_correlation(x, y)
    expected = spearmanr(x[5:], y[5:])
    assert (rho, p, n) == pytest.approx((expected.statistic, expected.pvalue, 25))
    assert np.isnan(rank_correlation([1.0, 2.0], [2.0, 1.0])[0])  # fewer than 3 pairs
    assert np.isnan(rank_correlation([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])[0])  # constant


def test_fit_loglog_recovers_a_line_and_needs_two_x_values():
    x = np.array([1.0, 2.0, 3.0, np.nan])
    fit = fit_loglog(x, -x + 0.5)
    assert fit.ok and (fit.slope, fit.intercept, fit.n) == pytest.approx((-1.0, 0.5, 3))
    assert not fit_loglog(np.array([1.0, 1.0]), np.array([2.0, 3.0])).ok


def test_chance_level_follows_dimension_and_batch_size():
    settings = {"model": {"latent_dim": 3}, "train": {"metric_batch_size": 64}}
    assert settings_chance_mcc(settings) == chance_mcc(3, 64)
    assert settings_chance_mcc(settings, 5) == chance_mcc(5, 64)


def test_run_count_and_unfinished_phrases():
    assert phrases.count_range(pd.Series([20, 20])) == "20 runs"
    assert phrases.count_range(pd.Series([18, 20])) == "18–20 runs"
    assert phrases.count_range(pd.Series([1])) == "1 run"
    statuses = pd.Series(["ok", "diverged", "ok", "failed", "diverged"])
    assert phrases.unfinished_counts(statuses) == "2 diverged, 1 failed"
    assert phrases.unfinished_counts(pd.Series(["ok", "ok"])) == ""
    assert phrases.accounting(statuses, "they are not drawn") == (
        "Of 5 runs, 2 diverged, 1 failed; they are not drawn."
    )
    assert phrases.accounting(pd.Series(["ok"]), "never shown") == "All 1 run finished."


def test_chance_and_number_phrases():
    assert phrases.chance_phrase(0.213) == (
        "The dashed line marks the batch MCC expected by chance (0.21)."
    )
    assert phrases.chance_phrase(None) == phrases.chance_phrase(float("nan")) == ""
    per_dim = phrases.chance_phrase({3: 0.3, 2: 0.4})
    assert per_dim.startswith("Dashed lines") and per_dim.index("at dimension 2") < per_dim.index(
        "at dimension 3"
    )
    assert [phrases.format_power(v) for v in (1e4, 3e3, 10.0, 0.5)] == ["1e4", "3e3", "1e1", "0.5"]
    assert phrases.format_p(0.0123) == "0.012" and phrases.format_p(1e-5) == "1.0e-05"
    assert phrases.format_p(float("nan")) == "n/a"
    assert phrases.experiment_caption("etg_x", "E9", "Text.") == "etg_x (E9): Text."
    df = pd.DataFrame({"model_seed": [1, 1, 2], "data_seed": [3, 3, 3]})
    assert phrases.seeds_phrase(df, "model_seed", "model seed") == "2 model seeds"
    assert phrases.seeds_phrase(df, "data_seed", "data seed") == "data seed 3"
    assert phrases.seeds_phrase(df, "nope", "x") == ""
