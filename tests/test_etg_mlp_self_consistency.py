"""E3 (etg_mlp_self_consistency): table, figures, captions and claims on synthetic summaries with
known slopes, plus one tiny real training run through the same functions."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from helpers import ROOT
from matplotlib.figure import Figure

from identvae.claims import (
    NO_DATA,
    NOT_REPRODUCED,
    PARTLY,
    REPRODUCED,
    VERDICTS,
    ClaimResult,
    judge_all,
)
from identvae.experiments import registry
from identvae.experiments.etg import mlp_self_consistency as e3
from identvae.experiments.inputs import ExperimentData
from identvae.figures.style import save_figure

GAMMAS = [1e1, 1e2, 1e3, 1e4, 1e5]
N_DIMS = 3
METRIC_COLUMNS = [
    "mcc_batch",
    "mse_obs_decoded_mean_latents",
    "gamma2_mle",
    *[f"{kind}_variance_{k}" for k in range(N_DIMS) for kind in ("latent", "predicted")],
]


def synthetic_summary(
    var_exponent: float = -1.0,
    mse_exponent: float = -1.0,
    n_seeds: int = 4,
    noise: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """σ_k² = 1 / (1 + γ²) · γ²^(var_exponent + 1) (so var_exponent = −1 is the paper's law),
    predicted σ_k² = 1 / (1 + γ²), MSE of the decoded mean = 0.5 · γ²^mse_exponent and
    γ²_MLE = 1 / MSE; multiplicative log-normal noise of ``noise`` decades per value. One run
    at γ² = 1e3 diverged (NaN metrics)."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in GAMMAS:
        for s in range(n_seeds):
            mse = 0.5 * g**mse_exponent * 10 ** rng.normal(0, noise)
            row = {
                "run_id": f"gamma2={g:g}_seed={s}",
                "status": "ok",
                "gamma2": g,
                "beta": 1.0,
                "model_seed": s + 1,
                "data_seed": 1,
                "mcc_batch": 0.5 + 0.1 * math.log10(g),
                "mse_obs_decoded_mean_latents": mse,
                "gamma2_mle": 1.0 / mse,
            }
            for k in range(N_DIMS):
                scale = 10 ** rng.normal(0, noise)
                row[f"latent_variance_{k}"] = g ** (var_exponent + 1) / (1 + g) * scale
                row[f"predicted_variance_{k}"] = 1 / (1 + g)
            rows.append(row)
    df = pd.DataFrame(rows)
    bad = df.index[(df["gamma2"] == 1e3) & (df["model_seed"] == 1)]
    df.loc[bad, "status"] = "diverged"
    df.loc[bad, METRIC_COLUMNS] = np.nan
    return df


def by_id(results: list[ClaimResult]) -> dict[str, ClaimResult]:
    return {r.claim_id: r for r in results}


CTX = e3.context(
    {
        "data": {"mixing": "mlp_orthogonal", "sources": "gaussian", "n_sources": 3},
        "model": {"prior": "gaussian", "latent_dim": 3, "n_layers": 2, "hidden_factor": 10},
        "train": {},
        "sweep": {},
        "resources": {},
    }
)
#: figure name -> (draw, caption), as the registry names them.
FIGURES = {
    entry.name: (getattr(e3, entry.draw), getattr(e3, entry.caption))
    for entry in registry.get(e3.EXPERIMENT).figures
}


def claims(df: pd.DataFrame) -> list[ClaimResult]:
    return judge_all(e3.CLAIMS, ExperimentData(df), CTX)


def table(df: pd.DataFrame) -> pd.DataFrame:
    return e3.table(ExperimentData(df), CTX)


# --- table ---------------------------------------------------------------------------------------


def test_table_counts_failed_runs_and_has_one_row_per_gamma2():
    t = table(synthetic_summary())
    assert list(t["gamma2"]) == GAMMAS
    np.testing.assert_allclose(t["log10_gamma2"], [1, 2, 3, 4, 5])
    assert list(t["runs"]) == [4, 4, 4, 4, 4]
    assert list(t["failed"]) == [0, 0, 1, 0, 0]
    assert t.notna().all().all()  # the diverged run's NaNs do not leak into any statistic
    for column in ("slope_log_var", "slope_log_predicted_var", "slope_log_gamma2_mle"):
        assert column in t and t[column].nunique() == 1


def test_table_values_follow_the_synthetic_laws():
    t = table(synthetic_summary())
    expected_log_var = -np.log10(1 + np.asarray(GAMMAS))
    np.testing.assert_allclose(t["log10_latent_variance_median"], expected_log_var, atol=1e-9)
    np.testing.assert_allclose(t["log10_predicted_variance_median"], expected_log_var, atol=1e-9)
    np.testing.assert_allclose(t["log10_mse_obs_median"], np.log10(0.5) - t["log10_gamma2"])
    np.testing.assert_allclose(t["log10_gamma2_mle_median"], -t["log10_mse_obs_median"])
    np.testing.assert_allclose(t["mcc_batch_median"], 0.5 + 0.1 * t["log10_gamma2"])
    # log10(1/(1+γ²)) over γ² = 1e1..1e5 is close to −log10 γ², slightly flatter at γ² = 10.
    slope = t["slope_log_var"].iloc[0]
    assert -1.0 < slope < -0.97
    assert t["slope_log_predicted_var"].iloc[0] == pytest.approx(slope)
    assert t["slope_log_gamma2_mle"].iloc[0] == pytest.approx(1.0)


def test_table_slope_reflects_a_different_law():
    t = table(synthetic_summary(var_exponent=-0.5, mse_exponent=-0.3))
    # γ²^0.5 / (1 + γ²) has a log-log slope close to −0.5
    assert t["slope_log_var"].iloc[0] == pytest.approx(-0.5, abs=0.03)
    assert t["slope_log_gamma2_mle"].iloc[0] == pytest.approx(0.3)


def test_table_keeps_a_gamma2_whose_runs_all_failed():
    df = synthetic_summary()
    mask = df["gamma2"] == 1e5
    df.loc[mask, "status"] = "failed"
    df.loc[mask, METRIC_COLUMNS] = np.nan
    t = table(df)
    last = t[t["gamma2"] == 1e5].iloc[0]
    assert last["runs"] == 4 and last["failed"] == 4
    assert np.isnan(last["log10_latent_variance_median"]) and np.isnan(last["mcc_batch_median"])
    assert np.isfinite(last["slope_log_var"])  # the slope over the remaining γ² still exists


# --- claims --------------------------------------------------------------------------------------


def test_claims_reproduced_for_the_paper_laws():
    results = claims(synthetic_summary(noise=0.05))
    assert [r.claim_id for r in results] == ["E3.slope", "E3.recon", "E3.gamma2_mle"]
    assert all(r.experiment == e3.EXPERIMENT for r in results)
    assert {r.verdict for r in results} == {REPRODUCED}
    for r in results:
        assert r.detail and r.ours and r.paper_value and r.claim
    assert "19 ok of 20 runs" in by_id(results)["E3.slope"].detail


@pytest.mark.parametrize(
    ("var_exponent", "verdict"),
    [(-1.0, REPRODUCED), (-0.78, PARTLY), (-0.5, NOT_REPRODUCED), (-1.6, NOT_REPRODUCED)],
)
def test_slope_claim_flips_with_the_slope(var_exponent, verdict):
    results = by_id(claims(synthetic_summary(var_exponent=var_exponent)))
    assert results["E3.slope"].verdict == verdict


@pytest.mark.parametrize(
    ("mse_exponent", "verdict"),
    [(-1.0, REPRODUCED), (-0.6, PARTLY), (-0.2, NOT_REPRODUCED), (1.0, NOT_REPRODUCED)],
)
def test_gamma2_mle_claim_flips_with_the_slope(mse_exponent, verdict):
    results = by_id(claims(synthetic_summary(mse_exponent=mse_exponent)))
    assert results["E3.gamma2_mle"].verdict == verdict


def test_recon_claim_needs_a_steady_fall():
    assert by_id(claims(synthetic_summary()))["E3.recon"].verdict == REPRODUCED
    # A rising error is not reproduced.
    rising = by_id(claims(synthetic_summary(mse_exponent=0.5)))["E3.recon"]
    assert rising.verdict == NOT_REPRODUCED
    # Flat after γ² = 1e2: still a negative rank correlation overall, but not a steady fall.
    df = synthetic_summary()
    df.loc[df["gamma2"] >= 1e2, "mse_obs_decoded_mean_latents"] = 1e-3
    df.loc[df["gamma2"] >= 1e2, "gamma2_mle"] = 1e3
    df.loc[df["status"] != "ok", ["mse_obs_decoded_mean_latents", "gamma2_mle"]] = np.nan
    flat = by_id(claims(df))["E3.recon"]
    assert flat.verdict in (PARTLY, NOT_REPRODUCED)
    # A strong overall fall (ρ ≤ −0.9) with one step up is only partly a steady fall.
    df = synthetic_summary()
    bump = df["gamma2"] == 1e4
    df.loc[bump, "mse_obs_decoded_mean_latents"] = 1.5 * 0.5e-3  # above the γ² = 1e3 value
    df.loc[bump, "gamma2_mle"] = 1 / df.loc[bump, "mse_obs_decoded_mean_latents"]
    bumped = by_id(claims(df))["E3.recon"]
    assert bumped.verdict == PARTLY
    assert "falling at 3 of 4 steps" in bumped.detail
    # Noise that scrambles the order within the sweep lowers the verdict.
    noisy = by_id(claims(synthetic_summary(mse_exponent=-0.2, noise=1.0, seed=3)))["E3.recon"]
    assert noisy.verdict != REPRODUCED


def test_non_ok_runs_never_enter_statistics_even_with_finite_metrics():
    """A run marked failed whose row still carries (garbage) numbers is counted, not used."""
    df = synthetic_summary()
    garbage = df.iloc[[0]].copy()
    garbage["status"] = "failed"
    garbage["run_id"] = "garbage"
    garbage[METRIC_COLUMNS] = 1e6  # would wreck every median and slope if used
    with_garbage = pd.concat([df, garbage], ignore_index=True)
    t, t0 = table(with_garbage), table(df)
    assert t["failed"].iloc[0] == 1 and t["runs"].iloc[0] == 5
    stats = [c for c in e3.TABLE_COLUMNS if c not in ("runs", "failed")]
    pd.testing.assert_frame_equal(t[stats], t0[stats])
    assert [r.verdict for r in claims(with_garbage)] == [r.verdict for r in claims(df)]


def test_claims_no_data_without_finished_runs():
    df = synthetic_summary()
    df["status"] = "failed"
    df[METRIC_COLUMNS] = np.nan
    results = claims(df)
    assert [r.verdict for r in results] == [NO_DATA] * 3
    assert all("0 ok of 20 runs" in r.detail for r in results)


def test_claims_no_data_with_a_single_gamma2():
    df = synthetic_summary()
    df = df[df["gamma2"] == 1e2]
    assert {r.verdict for r in claims(df)} == {NO_DATA}


# --- figures and captions ------------------------------------------------------------------------


def data_axes(fig: Figure) -> list:
    """Axes that are not colour bars (a colour bar's axes carries a ``_colorbar`` attribute)."""
    return [ax for ax in fig.axes if not hasattr(ax, "_colorbar")]


def colorbar_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if hasattr(ax, "_colorbar")]


def test_figures_registered_with_captions():
    assert set(FIGURES) == {"etg_mlp_self_consistency", "etg_mlp_gamma_mle"}
    for figure_fn, caption_fn in FIGURES.values():
        assert callable(figure_fn) and callable(caption_fn)


@pytest.mark.parametrize(
    ("name", "n_axes"), [("etg_mlp_self_consistency", 2), ("etg_mlp_gamma_mle", 1)]
)
def test_figures_render(tmp_path, name, n_axes):
    figure_fn, _ = FIGURES[name]
    fig = figure_fn(ExperimentData(synthetic_summary(noise=0.05)), CTX)
    assert isinstance(fig, Figure)
    axes = data_axes(fig)
    assert len(axes) == n_axes
    assert len(colorbar_axes(fig)) == 1
    for ax in axes:
        assert ax.collections, "no scatter points drawn"
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert any("(1 diverged)" in t for t in labels)  # the failed run is shown, not dropped
    save_figure(fig, tmp_path / f"{name}.pdf", tmp_path / f"{name}.png")
    assert (tmp_path / f"{name}.png").stat().st_size > 0


def test_self_consistency_figure_shows_prediction_fit_and_reference():
    fig = FIGURES["etg_mlp_self_consistency"][0](ExperimentData(synthetic_summary()), CTX)
    left, right = data_axes(fig)
    assert len(left.collections) == 2  # observed and predicted variances
    # 20 runs − 1 diverged = 19 finished runs, 3 dims each, for each of the two point sets
    assert [len(c.get_offsets()) for c in left.collections] == [19 * N_DIMS, 19 * N_DIMS]
    legend = [t.get_text() for t in left.get_legend().get_texts()]
    assert any("slope −1" in t for t in legend) and any(t.startswith("fit") for t in legend)
    assert len(right.collections[0].get_offsets()) == 19
    # ‖f(μ(x)) − x‖² = d · per-coordinate MSE: the plotted values are shifted by log10 3.
    y = right.collections[0].get_offsets()[:, 1]
    ok = synthetic_summary().query("status == 'ok'")
    np.testing.assert_allclose(
        np.sort(y), np.sort(np.log10(3 * ok["mse_obs_decoded_mean_latents"].to_numpy()))
    )
    plt.close(fig)


def test_figures_render_with_all_runs_failed():
    df = synthetic_summary()
    df["status"] = "failed"
    df[METRIC_COLUMNS] = np.nan
    for figure_fn, caption_fn in FIGURES.values():
        fig = figure_fn(ExperimentData(df), CTX)
        assert isinstance(fig, Figure)
        plt.close(fig)
        assert "Of 20 runs, 20 failed" in caption_fn(ExperimentData(df), CTX)


def test_captions_state_counts_failed_runs_choice_and_selection():
    df = synthetic_summary()
    for _, caption_fn in FIGURES.values():
        text = caption_fn(ExperimentData(df), CTX)
        assert "5 γ² values" in text and "4 runs per γ²" in text and "4 model seeds" in text
        assert text.startswith("etg_mlp_self_consistency (E3): ")
        assert "Of 20 runs, 1 diverged" in text
        assert "n_layers = 2" in text and "hidden_factor = 10" in text and "choice" in text
        assert "lowest negative ELBO" in text
    clean = synthetic_summary()
    clean["status"] = "ok"
    assert "All 20 runs finished" in FIGURES["etg_mlp_gamma_mle"][1](ExperimentData(clean), CTX)


def test_context_reads_the_config_block():
    assert CTX == e3.Context(obs_dim=3, n_layers=2, hidden_factor=10)


# --- real runs ----------------------------------------------------------------------------------


def test_recorded_runs_feed_table_figures_and_claims():
    """The smoke preset's recorded summary (2 γ² × 2 seeds, a few epochs): only the plumbing."""
    summary = pd.read_csv(ROOT / "tests/data/before_house/smoke/etg_mlp_self_consistency.csv")
    t = table(summary)
    assert len(t) == 2 and t["failed"].sum() == 0 and t["runs"].sum() == 4
    assert np.isfinite(t["slope_log_var"]).all()
    assert all(r.verdict in VERDICTS for r in claims(summary))
    for figure_fn, caption_fn in FIGURES.values():
        plt.close(figure_fn(ExperimentData(summary), CTX))
        text = caption_fn(ExperimentData(summary), CTX)
        assert "2 γ² values (2 runs per γ²" in text and "All 4 runs finished" in text
