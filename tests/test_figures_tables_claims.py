"""E1 summary table, claims, figure and table writers on synthetic per-run summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from identvae.claims import (
    NO_DATA,
    NOT_REPRODUCED,
    PARTLY,
    REPRODUCED,
    ClaimResult,
    judge_all,
    write_claims,
)
from identvae.experiments.etg import moebius_gamma as e1
from identvae.experiments.inputs import ExperimentData
from identvae.figures.style import save_figure
from identvae.tables import write_table

GAMMAS = [1e1, 1e2, 1e3, 1e4, 1e5]
METRICS = ["mcc_batch", "mcc_full", "mcc_batch_spearman", "mcc_full_spearman"]


def synthetic_summary(
    n_seeds: int = 6,
    low_mcc: float = 0.6,
    high_mcc: float = 0.97,
    cima_exponents: tuple[float, ...] = (-1.0, -1.75, -2.5, -3.25, -4.0),
    seed: int = 0,
) -> pd.DataFrame:
    """MCC ≈ low_mcc below γ²=1e4 and ≈ high_mcc from it; c_IMA ≈ 10^exponent per γ²;
    one diverged run (NaN metrics) at γ²=1e2."""
    rng = np.random.default_rng(seed)
    rows = []
    for gamma2, exponent in zip(GAMMAS, cima_exponents, strict=True):
        for s in range(n_seeds):
            mcc = float(
                np.clip((high_mcc if gamma2 >= 1e4 else low_mcc) + rng.normal(0, 0.02), 0, 1)
            )
            row = {
                "run_id": f"gamma2={gamma2:.0e}_seed={s}",
                "status": "ok",
                "gamma2": gamma2,
                "model_seed": s,
                "data_seed": 0,
                "selected_epoch": 90,
                "epochs_trained": 100,
                "cima_batch": float(10 ** (exponent + rng.normal(0, 0.1))),
                "cima_local": float(10 ** (exponent + 0.5)),
                "val_neg_elbo": 1.0 + rng.normal(0, 0.1),
                "extra_column": "ignored",
            }
            row.update({m: mcc for m in METRICS})
            rows.append(row)
    df = pd.DataFrame(rows)
    diverged = df.index[(df["gamma2"] == 1e2) & (df["model_seed"] == 0)]
    df.loc[diverged, "status"] = "diverged"
    df.loc[diverged, METRICS + ["cima_batch", "cima_local", "val_neg_elbo"]] = np.nan
    return df


def fail_group(df: pd.DataFrame, gamma2: float, status: str = "failed") -> pd.DataFrame:
    df = df.copy()
    mask = df["gamma2"] == gamma2
    df.loc[mask, "status"] = status
    df.loc[mask, METRICS + ["cima_batch", "cima_local"]] = np.nan
    return df


def by_id(results: list[ClaimResult]) -> dict[str, ClaimResult]:
    return {r.claim_id: r for r in results}


def e1_claims(df: pd.DataFrame, chance_mcc: float = float("nan")) -> list[ClaimResult]:
    return judge_all(e1.CLAIMS, ExperimentData(df), e1.Context(chance_mcc))


def caption(df: pd.DataFrame, chance_mcc: float = float("nan")) -> str:
    return e1.caption(ExperimentData(df), e1.Context(chance_mcc))


def figure(df: pd.DataFrame, chance_mcc: float = float("nan")):
    return e1.figure(ExperimentData(df), e1.Context(chance_mcc))


# --- table ---------------------------------------------------------------------------------------


def test_gamma_table_counts_and_medians() -> None:
    df = synthetic_summary()
    df = fail_group(df, 1e3, status="failed")  # a γ² with no ok run keeps its row
    table = e1.gamma_table(df)

    assert list(table.columns) == e1.TABLE_COLUMNS
    assert table["gamma2"].tolist() == GAMMAS
    np.testing.assert_allclose(table["log10_gamma2"], [1, 2, 3, 4, 5])
    assert table["runs"].tolist() == [6] * 5
    assert table["failed"].tolist() == [0, 1, 6, 0, 0]
    assert table["runs"].sum() == len(df)

    ok = df[df["status"] == "ok"]
    for _, row in table.iterrows():
        group = ok[ok["gamma2"] == row["gamma2"]]
        if group.empty:
            assert np.isnan(row["mcc_batch_median"]) and np.isnan(row["cima_batch_median"])
            assert np.isnan(row["log10_cima_batch_median"])
            continue
        assert row["mcc_batch_median"] == pytest.approx(group["mcc_batch"].median())
        assert row["mcc_batch_mean"] == pytest.approx(group["mcc_batch"].mean())
        assert row["mcc_batch_std"] == pytest.approx(group["mcc_batch"].std())
        assert row["mcc_full_median"] == pytest.approx(group["mcc_full"].median())
        assert row["cima_batch_median"] == pytest.approx(group["cima_batch"].median())
        assert row["log10_cima_batch_median"] == pytest.approx(
            np.log10(group["cima_batch"].median())
        )


def test_caption_counts_failures() -> None:
    df = fail_group(synthetic_summary(), 1e3)
    text = caption(df, chance_mcc=0.21)
    assert text.startswith("etg_moebius_gamma (E1): ")
    assert "1 diverged" in text and "6 failed" in text and f"Of {len(df)} runs" in text
    assert "6 runs per γ²" in text and "lowest negative ELBO" in text and "(0.21)" in text
    assert "All 30 runs finished" in caption(synthetic_summary().assign(status="ok"))
    assert "chance" not in caption(df)  # no chance level, no dashed-line sentence


# --- claims --------------------------------------------------------------------------------------


def test_e1_claims_reproduced_on_paper_like_data() -> None:
    results = by_id(e1_claims(synthetic_summary(), chance_mcc=0.21))
    assert set(results) == {"E1.high_gamma_mcc", "E1.low_gamma_mcc", "E1.cima_drop"}
    assert all(r.verdict == REPRODUCED for r in results.values()), results
    assert results["E1.low_gamma_mcc"].ours.endswith("(chance 0.21)")
    low = synthetic_summary().query("gamma2 == 10 and status == 'ok'")["mcc_batch"].median()
    assert results["E1.low_gamma_mcc"].ours == f"{low:.2f} (chance 0.21)"
    assert results["E1.cima_drop"].ours.startswith("3.0 orders")
    assert "reproduced if the median batch MCC ≥ 0.9" in results["E1.high_gamma_mcc"].detail


def test_e1_claims_flip_with_data() -> None:
    flat = by_id(e1_claims(synthetic_summary(low_mcc=0.6, high_mcc=0.6), chance_mcc=0.21))
    assert flat["E1.high_gamma_mcc"].verdict == NOT_REPRODUCED
    assert flat["E1.low_gamma_mcc"].verdict == NOT_REPRODUCED

    middling = by_id(e1_claims(synthetic_summary(low_mcc=0.75, high_mcc=0.85)))
    assert middling["E1.high_gamma_mcc"].verdict == PARTLY
    assert middling["E1.low_gamma_mcc"].verdict == PARTLY  # gap 0.10

    small_drop = by_id(e1_claims(synthetic_summary(cima_exponents=(-1, -1.3, -1.6, -2, -2.5))))
    assert small_drop["E1.cima_drop"].verdict == PARTLY
    no_drop = by_id(e1_claims(synthetic_summary(cima_exponents=(-2, -2, -2, -2, -2))))
    assert no_drop["E1.cima_drop"].verdict == NOT_REPRODUCED


def test_e1_claims_no_data() -> None:
    df = fail_group(fail_group(synthetic_summary(), 1e4), 1e5, status="diverged")
    results = by_id(e1_claims(df, chance_mcc=0.21))
    assert results["E1.high_gamma_mcc"].verdict == NO_DATA
    assert "γ² ≥ 1e4: 0 ok of 12 runs" in results["E1.high_gamma_mcc"].detail
    assert results["E1.low_gamma_mcc"].verdict == NO_DATA
    assert results["E1.cima_drop"].verdict == NO_DATA

    # Non-positive c_IMA medians cannot give orders of magnitude.
    zero = synthetic_summary()
    zero.loc[zero["gamma2"] == 1e5, "cima_batch"] = 0.0
    assert by_id(e1_claims(zero))["E1.cima_drop"].verdict == NO_DATA

    empty = synthetic_summary().iloc[:0]
    assert {r.verdict for r in e1_claims(empty)} == {NO_DATA}


def test_claim_result_rejects_unknown_verdict() -> None:
    with pytest.raises(ValueError, match="verdict"):
        ClaimResult("x", "y", "claim", "1", "1", "maybe", "")


def test_write_claims_writes_every_experiment(tmp_path) -> None:
    path = tmp_path / "claims" / "claims.csv"
    first = e1_claims(synthetic_summary(), chance_mcc=0.21)
    other = [ClaimResult("E3.x", "other_exp", "c", "p", "o", NO_DATA, "d")]
    write_claims(first + other, path)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(table.columns) == [
        "claim_id", "experiment", "claim", "paper_value", "ours", "verdict", "detail",
    ]  # fmt: skip
    assert table["claim_id"].tolist() == [r.claim_id for r in first] + ["E3.x"]
    assert table.loc[table["claim_id"] == "E3.x", "verdict"].item() == NO_DATA


# --- figure --------------------------------------------------------------------------------------


def _render(df: pd.DataFrame, tmp_path, name: str, chance: float | None = 0.21) -> None:
    fig = figure(df, chance_mcc=float("nan") if chance is None else chance)
    pdf, png = tmp_path / f"{name}.pdf", tmp_path / f"{name}.png"
    save_figure(fig, pdf, png)
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000


def test_figure_renders(tmp_path) -> None:
    _render(synthetic_summary(), tmp_path, "plain")


def test_figure_renders_degenerate_groups(tmp_path) -> None:
    df = synthetic_summary()
    df = fail_group(df, 1e3)  # all failed
    single = (df["gamma2"] == 1e4) & (df["model_seed"] > 0)
    df = df[~single]  # one ok run only
    df.loc[(df["gamma2"] == 1e1) & (df["model_seed"] == 1), "cima_batch"] = 0.0  # off the log axis
    df.loc[(df["gamma2"] == 1e1) & (df["model_seed"] == 2), "cima_batch"] = -1.0
    df.loc[df["gamma2"] == 1e5, "mcc_batch"] = 0.9  # identical values: no KDE
    _render(df, tmp_path, "degenerate", chance=None)
    _render(fail_group(df, 1e1).pipe(fail_group, 1e2).pipe(fail_group, 1e4).pipe(fail_group, 1e5),
            tmp_path, "nothing_ok")  # fmt: skip


def test_figure_annotates_counts() -> None:
    df = fail_group(synthetic_summary(), 1e3)
    fig = figure(df, chance_mcc=0.21)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[1].splitlines()[1:] == ["n=5", "(1 diverged)"]
    assert labels[2].splitlines()[1:] == ["n=0", "(6 failed)"]
    assert labels[0].splitlines()[1:] == ["n=6"]
    import matplotlib.pyplot as plt

    plt.close(fig)


# --- tables --------------------------------------------------------------------------------------


def test_write_table_all_formats(tmp_path) -> None:
    table = e1.gamma_table(fail_group(synthetic_summary(), 1e3))
    paths = write_table(table, tmp_path / "tables" / "e1_gamma")
    assert [p.name for p in paths] == ["e1_gamma.csv", "e1_gamma.md", "e1_gamma.tex"]
    assert all(p.stat().st_size > 0 for p in paths)

    back = pd.read_csv(paths[0])
    pd.testing.assert_frame_equal(back, table, check_dtype=False)

    md = paths[1].read_text()
    assert md.splitlines()[0].startswith("|") and "mcc_batch_median" in md and "n/a" in md
    assert len(md.strip().splitlines()) == len(table) + 2

    tex = paths[2].read_text()
    assert tex.startswith("\\begin{tabular}") and "\\bottomrule" in tex
    assert "mcc\\_batch\\_median" in tex and "1e+04" in tex
    assert tex.count("\\\\") == len(table) + 1


def test_write_table_subset_and_unknown_format(tmp_path) -> None:
    df = pd.DataFrame({"name": ["a_b", "c&d"], "value": [1.23456, np.nan], "ok": [True, False]})
    (csv,) = write_table(df, tmp_path / "t", formats=("csv",))
    assert csv.exists() and not (tmp_path / "t.md").exists()
    (tex,) = write_table(df, tmp_path / "t", formats=("tex",), float_format="%.2f")
    assert "a\\_b & 1.23 & True" in tex.read_text() and "c\\&d & n/a & False" in tex.read_text()
    with pytest.raises(ValueError, match="unknown table format"):
        write_table(df, tmp_path / "t", formats=("xlsx",))


def test_the_table_function_takes_the_experiment_data() -> None:
    df = synthetic_summary()
    pd.testing.assert_frame_equal(e1.table(ExperimentData(df), e1.Context(0.2)), e1.gamma_table(df))


def test_context_reads_the_chance_level_from_the_settings() -> None:
    settings = {"model": {"latent_dim": 3}, "train": {"metric_batch_size": 64}}
    ctx = e1.context(settings)
    assert 0.1 < ctx.chance_mcc < 0.3
    assert e1.context({**settings, "train": {"metric_batch_size": 16}}).chance_mcc > ctx.chance_mcc
