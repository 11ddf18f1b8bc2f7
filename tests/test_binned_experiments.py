"""E2 (Möbius + linear) and E6 (AR flow): binned tables, claims, captions and figures on
synthetic per-run summaries (one run per data seed)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from identvae.claims import (
    NO_DATA,
    NOT_REPRODUCED,
    PARTLY,
    REPORTED,
    REPRODUCED,
    VERDICTS,
    ClaimResult,
    judge_all,
)
from identvae.experiments.etg import arflow as e6
from identvae.experiments.etg import moebius_linear as e2
from identvae.experiments.inputs import ExperimentData
from identvae.figures.style import save_figure
from identvae.tables import write_table

METRICS = ["mcc_batch", "mcc_full", "mcc_batch_spearman", "mcc_full_spearman", "val_neg_elbo"]
SETTINGS = {
    "data": {"mixing": "moebius_linear", "mixing_options": {"linear_norm": "unit_det"}},
    "model": {"latent_dim": 3},
    "train": {"metric_batch_size": 64},
    "plot": {"cima_axis": "linear"},
    "sweep": {"gamma2": [1e5], "model_seed": [1], "data_seed": list(range(10))},
    "resources": {},
}
CONTEXTS = {e2: e2.context(SETTINGS), e6: e6.Context(chance_mcc=0.4)}


def axis(cima_axis: str) -> e2.Context:
    """E2's context with the x axis ``cima_axis`` (plot.cima_axis)."""
    return e2.context({**SETTINGS, "plot": {"cima_axis": cima_axis}})


def claims(module, df: pd.DataFrame, ctx=None) -> list[ClaimResult]:
    return judge_all(module.CLAIMS, ExperimentData(df), ctx or CONTEXTS[module])


def binned(module, df: pd.DataFrame, ctx=None) -> pd.DataFrame:
    return module.table(ExperimentData(df), ctx or CONTEXTS[module])


def caption(module, df: pd.DataFrame, ctx=None) -> str:
    return module.caption(ExperimentData(df), ctx or CONTEXTS[module])


def figure(module, df: pd.DataFrame, ctx=None):
    return module.figure(ExperimentData(df), ctx or CONTEXTS[module])


def synthetic(
    n: int = 100,
    slope: float = -0.25,
    noise: float = 0.02,
    driver: str = "linear_cima",
    seed: int = 0,
) -> pd.DataFrame:
    """One ok run per data seed. log10 linear_cima ~ U(-0.4, 0.8) and log10 mixing_cima
    ~ U(-0.6, 0.6) drawn independently; batch MCC = 0.9 + slope · (log10 driver − its minimum)
    + noise, so only the ``driver`` column carries the trend."""
    rng = np.random.default_rng(seed)
    logs = {"linear_cima": rng.uniform(-0.4, 0.8, n), "mixing_cima": rng.uniform(-0.6, 0.6, n)}
    x = logs[driver]
    mcc = np.clip(0.9 + slope * (x - x.min()) + rng.normal(0, noise, n), 0, 1)
    return pd.DataFrame(
        {
            "run_id": [f"data_seed={i}" for i in range(n)],
            "status": "ok",
            "gamma2": 1e5,
            "beta": 1.0,
            "model_seed": 1,
            "data_seed": np.arange(n),
            "selected_epoch": 50,
            "mcc_batch": mcc,
            "mcc_full": np.clip(mcc + 0.03, 0, 1),
            "mcc_batch_spearman": mcc,
            "mcc_full_spearman": mcc,
            "val_neg_elbo": rng.normal(-5, 0.1, n),
            "linear_cima": 10 ** logs["linear_cima"],
            "mixing_cima": 10 ** logs["mixing_cima"],
        }
    )


def fail(df: pd.DataFrame, rows, status: str = "diverged", keep_x: bool = True) -> pd.DataFrame:
    """Mark ``rows`` (positions) as not finished, metrics NaN; the C_IMA too unless keep_x."""
    df = df.copy()
    index = df.index[list(rows)]
    df.loc[index, "status"] = status
    df.loc[index, METRICS] = np.nan
    if not keep_x:
        df.loc[index, ["linear_cima", "mixing_cima"]] = np.nan
    return df


def by_id(results: list[ClaimResult]) -> dict[str, ClaimResult]:
    assert all(isinstance(r, ClaimResult) and r.verdict in VERDICTS for r in results)
    return {r.claim_id: r for r in results}


def manual_bins(log_x: np.ndarray, lo: float, hi: float, n_bins: int = 5) -> np.ndarray:
    """Independent bin assignment: floor((x − lo) / width), the maximum in the last bin."""
    width = (hi - lo) / n_bins
    return np.clip(np.floor((log_x - lo) / width), 0, n_bins - 1).astype(int)


def close(fig) -> None:
    plt.close(fig)


# --- table ---------------------------------------------------------------------------------------


def test_table_edges_from_ok_range_and_failed_counted() -> None:
    x = 10.0 ** np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 5.0, 0.5])
    df = synthetic(n=7).assign(linear_cima=x)
    df = fail(df, [5], status="diverged")  # x = 1e5 lies outside the finished runs' range
    df = fail(df, [6], status="failed")  # x = 10^0.5, inside bin [-0.2, 0.6)
    table = binned(e2, df)

    assert list(table.columns) == [
        "bin", "bin_label", "log10_cima_lo", "log10_cima_hi", "runs", "failed",
        "mcc_batch_median", "mcc_batch_mean", "mcc_batch_std", "mcc_full_median",
        "cima_axis", "spearman_rho", "spearman_p", "spearman_n",
    ]  # fmt: skip
    assert table["bin"].tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(table["log10_cima_lo"], [-1.0, -0.2, 0.6, 1.4, 2.2])
    np.testing.assert_allclose(table["log10_cima_hi"], [-0.2, 0.6, 1.4, 2.2, 3.0])
    assert table["runs"].tolist() == [1, 2, 1, 1, 2]
    assert table["failed"].tolist() == [0, 1, 0, 0, 1]
    assert table["runs"].sum() == len(df)
    assert (table["cima_axis"] == "linear_cima").all()
    assert table["bin_label"].iloc[0] == "[-1.00, -0.20)" and table["bin_label"].iloc[-1].endswith(
        "]"
    )


def test_table_statistics_match_independent_computation() -> None:
    df = fail(synthetic(n=60, seed=3), [4, 17], keep_x=True)
    df = fail(df, [30], status="failed", keep_x=False)
    table = binned(e2, df)

    ok = df[df["status"] == "ok"]
    log_ok = np.log10(ok["linear_cima"].to_numpy())
    lo, hi = log_ok.min(), log_ok.max()
    np.testing.assert_allclose(table.loc[table["bin"] >= 0, "log10_cima_lo"].iloc[0], lo)
    np.testing.assert_allclose(table.loc[table["bin"] >= 0, "log10_cima_hi"].iloc[-1], hi)
    widths = (table["log10_cima_hi"] - table["log10_cima_lo"]).iloc[:5]
    np.testing.assert_allclose(widths, (hi - lo) / 5)

    known = df["linear_cima"].notna()
    bins = manual_bins(np.log10(df.loc[known, "linear_cima"].to_numpy()), lo, hi)
    for k in range(5):
        members = df.loc[known][bins == k]
        row = table[table["bin"] == k].iloc[0]
        good = members[members["status"] == "ok"]
        assert row["runs"] == len(members)
        assert row["failed"] == int((members["status"] != "ok").sum())
        assert row["mcc_batch_median"] == pytest.approx(good["mcc_batch"].median())
        assert row["mcc_batch_mean"] == pytest.approx(good["mcc_batch"].mean())
        assert row["mcc_batch_std"] == pytest.approx(good["mcc_batch"].std())
        assert row["mcc_full_median"] == pytest.approx(good["mcc_full"].median())

    # The run without a C_IMA has its own labelled row; every run is counted once.
    unbinned = table[table["bin"] == -1]
    assert len(unbinned) == 1 and unbinned["runs"].item() == 1 and unbinned["failed"].item() == 1
    assert np.isnan(unbinned["log10_cima_lo"].item())
    assert table["runs"].sum() == len(df) and table["failed"].sum() == 3

    rho, p = spearmanr(ok["linear_cima"], ok["mcc_batch"])
    assert table["spearman_rho"].nunique() == 1
    assert table["spearman_rho"].iloc[0] == pytest.approx(rho)
    assert table["spearman_p"].iloc[0] == pytest.approx(p)
    assert table["spearman_n"].iloc[0] == len(ok)


def test_table_degenerate_ranges() -> None:
    # A single distinct C_IMA: every run in one bin, edges still increasing and finite.
    same = synthetic(n=8).assign(mixing_cima=2.0)
    table = binned(e6, same)
    assert len(table) == 5 and table["runs"].sum() == 8 and (table["runs"] == 8).sum() == 1
    assert np.all(np.diff(table["log10_cima_lo"]) > 0)
    inside = table[table["runs"] == 8].iloc[0]
    assert inside["log10_cima_lo"] <= np.log10(2.0) <= inside["log10_cima_hi"]
    assert np.isnan(table["spearman_rho"].iloc[0])  # constant x: no rank correlation

    # No finished run: the bins span the failed runs' (known) C_IMA, all counted as failed.
    none_ok = fail(synthetic(n=10), range(10), keep_x=True)
    table = binned(e6, none_ok)
    assert len(table) == 5 and table["runs"].sum() == 10 and table["failed"].sum() == 10
    assert table["log10_cima_lo"].iloc[0] == pytest.approx(np.log10(none_ok["mixing_cima"].min()))
    assert table["mcc_batch_median"].isna().all()

    # No finite C_IMA at all: only the unbinned row.
    no_x = fail(synthetic(n=4), range(4), keep_x=False)
    table = binned(e6, no_x)
    assert table["bin"].tolist() == [-1] and table["runs"].tolist() == [4]

    # Empty summary: no rows, same columns.
    assert binned(e6, synthetic(n=5).iloc[:0]).empty


def test_table_survives_csv(tmp_path) -> None:
    table = binned(e2, fail(synthetic(n=30), [2], keep_x=False))
    (csv,) = write_table(table, tmp_path / "e2", formats=("csv",))
    pd.testing.assert_frame_equal(pd.read_csv(csv), table, check_dtype=False)


# --- the E2 axis choice ---------------------------------------------------------------------------


def test_cima_axis_choice_switches_column() -> None:
    df = synthetic(n=100, driver="linear_cima", seed=1)
    assert abs(spearmanr(df["linear_cima"], df["mixing_cima"]).statistic) < 0.1  # precondition
    linear, mixing = binned(e2, df, axis("linear")), binned(e2, df, axis("mixing"))
    assert (linear["cima_axis"] == "linear_cima").all()
    assert (mixing["cima_axis"] == "mixing_cima").all()
    assert linear["log10_cima_lo"].iloc[0] == pytest.approx(np.log10(df["linear_cima"].min()))
    assert mixing["log10_cima_lo"].iloc[0] == pytest.approx(np.log10(df["mixing_cima"].min()))
    assert linear["spearman_rho"].iloc[0] < -0.8
    assert abs(mixing["spearman_rho"].iloc[0]) < 0.3

    assert by_id(claims(e2, df, axis("linear")))["E2.rank"].verdict == REPRODUCED
    assert by_id(claims(e2, df, axis("mixing")))["E2.rank"].verdict != REPRODUCED
    assert binned(e2, df).equals(linear)  # the paper's axis is the default

    assert CONTEXTS[e2].cima_axis == "linear" and CONTEXTS[e2].column == "linear_cima"
    chosen = axis("mixing")
    assert chosen.column == "mixing_cima" and chosen.linear_norm == "unit_det"
    assert 0 < chosen.chance_mcc < 1
    text = caption(e2, df, chosen)
    assert "summary column mixing_cima" in text and "not the paper's" in text
    with pytest.raises(ValueError, match="cima_axis"):
        axis("decoder")
    with pytest.raises(KeyError, match="linear_cima"):
        binned(e2, df.drop(columns="linear_cima"))


# --- claims --------------------------------------------------------------------------------------


def test_e2_claims_reproduced_when_mcc_falls_with_cima() -> None:
    df = fail(synthetic(n=100), [7], keep_x=True)
    results = by_id(claims(e2, df))
    assert set(results) == {"E2.rank", "E2.drop"}
    assert results["E2.rank"].verdict == REPRODUCED
    assert results["E2.drop"].verdict == REPRODUCED
    assert all(r.experiment == "etg_moebius_linear" for r in results.values())
    ok = df[df["status"] == "ok"]
    rho = spearmanr(ok["linear_cima"], ok["mcc_batch"]).statistic
    assert results["E2.rank"].ours.startswith(f"ρ = {rho:.2f}")
    assert "finite linear_cima and batch MCC: 99 ok of 100 runs" in results["E2.rank"].detail
    assert "one level lower unless p < 0.05" in results["E2.rank"].detail


def test_e2_claims_not_reproduced_when_independent() -> None:
    results = by_id(claims(e2, synthetic(n=100, slope=0.0, seed=1)))
    assert results["E2.rank"].verdict == NOT_REPRODUCED
    assert results["E2.drop"].verdict == NOT_REPRODUCED
    rising = by_id(claims(e2, synthetic(n=100, slope=+0.2)))
    assert rising["E2.rank"].verdict == NOT_REPRODUCED
    assert rising["E2.drop"].verdict == NOT_REPRODUCED


def test_e2_claims_partly() -> None:
    # A clear but smaller fall (≈ 0.1 between the end bins' centres).
    mild = by_id(claims(e2, synthetic(n=100, slope=-0.1, noise=0.01)))
    assert mild["E2.drop"].verdict == PARTLY
    # Strongly negative ρ on few runs, not significant.
    df = synthetic(n=6)
    df["linear_cima"] = 10.0 ** np.arange(6)
    df["mcc_batch"] = [0.9, 0.7, 0.8, 0.6, 0.85, 0.5]
    rho, p = spearmanr(df["linear_cima"], df["mcc_batch"])
    assert rho <= -0.3 and p >= 0.05  # precondition of this case
    assert by_id(claims(e2, df))["E2.rank"].verdict == PARTLY


def test_claims_no_data() -> None:
    few = fail(synthetic(n=8), range(4), keep_x=True)  # 4 finished runs
    assert {r.verdict for r in claims(e2, few)} == {NO_DATA}
    detail = by_id(claims(e2, few))["E2.rank"].detail
    assert detail.startswith("fewer than 5 ok runs") and "4 ok of 8 runs" in detail
    assert {r.verdict for r in claims(e6, few)} == {NO_DATA}
    nothing = fail(synthetic(n=10), range(10), keep_x=False)
    assert {r.verdict for r in claims(e2, nothing)} == {NO_DATA}
    assert {r.verdict for r in claims(e6, nothing)} == {NO_DATA}
    assert {r.verdict for r in claims(e2, synthetic(n=5).iloc[:0])} == {NO_DATA}


def test_e6_trend_is_reported_with_its_rank_correlation_not_judged() -> None:
    """The authors found only a weak trend and asked to report what comes out: the row gives
    ρ, p and the end bins' medians, whatever the trend, with the verdict "reported"."""
    for slope in (-0.25, 0.0, +0.25):
        df = synthetic(n=100, driver="mixing_cima", slope=slope)
        (result,) = claims(e6, df)
        assert result.claim_id == "E6.arflow_trend" and result.verdict == REPORTED
        rho = spearmanr(df["mixing_cima"], df["mcc_batch"]).statistic
        assert result.ours.startswith(f"ρ = {rho:.2f}")
        assert "in the lowest bin" in result.detail and "reported, not judged" in result.detail
    few = fail(synthetic(n=8, driver="mixing_cima"), range(4), keep_x=True)
    assert claims(e6, few)[0].verdict == NO_DATA  # still needs 5 finished runs


def test_e2_drop_compares_quantile_fifths_not_sparse_log_bins() -> None:
    """The drawn maps are dense at small C_IMA: 28 runs in [0, 0.3] and 2 at 1.0 put 2 runs in
    the highest log-spaced bin; the drop compares the lowest and the highest 6 runs instead."""
    df = synthetic(n=30)
    log_x = np.r_[np.linspace(0.0, 0.3, 28), 1.0, 1.0]
    df["linear_cima"] = 10.0**log_x
    df["mcc_batch"] = np.r_[[0.9] * 6, [0.7] * 18, [0.5] * 6]
    tab = binned(e2, df)
    assert tab["runs"].iloc[-1] == 2  # the paper's log-spaced end bin is sparse
    result = by_id(claims(e2, df))["E2.drop"]
    assert result.ours == "0.90 → 0.50 (drop 0.40)" and result.verdict == REPRODUCED
    assert "lowest 1/5: 6 ok of 6 runs" in result.detail
    assert "highest 1/5: 6 ok of 6 runs" in result.detail
    # a failed run keeps its place in the ranking: the top fifth has 5 finished runs left
    failed = fail(df, [29], keep_x=True)
    assert "highest 1/5: 5 ok of 6 runs" in by_id(claims(e2, failed))["E2.drop"].detail
    assert by_id(claims(e2, df.iloc[:9]))["E2.drop"].verdict == NO_DATA  # < 10 runs


# --- captions and figures ------------------------------------------------------------------------


def test_captions_count_runs_and_failures() -> None:
    df = fail(synthetic(n=100), [3, 50], keep_x=True)
    df = fail(df, [60], status="failed", keep_x=False)
    text = caption(e2, df)
    assert text.startswith("etg_moebius_linear (E2): ")
    assert "100 runs (100 data seeds, model seed 1, γ² = 1e5)" in text
    assert "Of 100 runs, 2 diverged, 1 failed" in text
    assert "1 run (0 finished) without a finite log10 C_IMA" in text
    assert "c_IMA of the linear map L" in text and "choice" in text
    assert "unit determinant" in text and "lowest negative ELBO" in text
    assert f"({CONTEXTS[e2].chance_mcc:.2f})" in text
    ok = df[df["status"] == "ok"]
    rho = spearmanr(ok["linear_cima"], ok["mcc_batch"]).statistic
    assert f"ρ = {rho:.2f}" in text and "n = 97" in text

    clean = synthetic(n=20, driver="mixing_cima")
    text6 = caption(e6, clean)
    assert text6.startswith("etg_arflow (E6): ") and "(0.40)" in text6
    assert "All 20 runs finished" in text6 and "global C_IMA" in text6
    assert "affine-coupling" in text6 and "lowest negative ELBO" in text6
    assert "no finite" not in text6


def _save(fig, tmp_path, name: str) -> None:
    pdf, png = tmp_path / f"{name}.pdf", tmp_path / f"{name}.png"
    save_figure(fig, pdf, png)
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000


def test_figures_render(tmp_path) -> None:
    df = fail(synthetic(n=50), [1, 2], keep_x=True)
    df = fail(df, [3], status="failed", keep_x=False)
    for module in (e2, e6):
        assert isinstance(caption(module, df), str)
        _save(figure(module, df), tmp_path, f"{module.EXPERIMENT}_plain")
        _save(figure(e2, df, axis("mixing")), tmp_path, f"{module.EXPERIMENT}_mixing")
        degenerate = {
            "single": synthetic(n=6).assign(linear_cima=3.0, mixing_cima=3.0),
            "one_run": synthetic(n=1),
            "none_ok": fail(synthetic(n=6), range(6), keep_x=True),
            "no_x": fail(synthetic(n=6), range(6), keep_x=False),
            "empty": synthetic(n=3).iloc[:0],
        }
        for name, data in degenerate.items():
            _save(figure(module, data), tmp_path, f"{module.EXPERIMENT}_{name}")
            assert isinstance(caption(module, data), str)


def test_figure_annotates_counts_per_bin() -> None:
    x = 10.0 ** np.array([-1.0, -0.9, 0.0, 1.0, 2.0, 3.0, 2.9])
    df = synthetic(n=7).assign(linear_cima=x)
    df = fail(df, [1], status="diverged")  # log10 x = -0.9: first bin
    df = fail(df, [6], status="failed")  # log10 x = 2.9: last bin
    fig = figure(e2, df)
    ax = fig.axes[0]
    counts = [t.get_text() for t in ax.texts if t.get_text().startswith("n=")]
    assert counts == ["n=1\n(1 diverged)", "n=1", "n=1", "n=1", "n=1\n(1 failed)"]
    assert any("Spearman ρ" in t.get_text() for t in ax.texts)
    np.testing.assert_allclose(ax.get_xticks(), [-1.0, -0.2, 0.6, 1.4, 2.2, 3.0])
    close(fig)
