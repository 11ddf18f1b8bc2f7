"""The iVAE claims judged on the authors' dataset (data seed 1) and over fresh draws: the two
rows read only their own runs, say which draws they used, and the figure of the final MCC
against each draw's mixing reports rank correlations over the fresh draws only."""

import numpy as np
import pandas as pd
import pytest

from identvae.claims import NO_DATA, NOT_REPRODUCED, PARTLY, REPORTED, REPRODUCED, judge_all
from identvae.experiments.inputs import ExperimentData
from identvae.experiments.ivae import fig2a


def summary(authors_ivae=0.97, fresh_ivae=(0.5, 0.6, 0.55), vae=0.5) -> pd.DataFrame:
    """One run per model and data seed: seed 1 is the authors' dataset, seeds 2.. fresh; the
    mixing's C_IMA grows with the seed, and the fresh iVAE MCCs are given."""
    rows = []
    for seed, ivae_mcc in enumerate((authors_ivae, *fresh_ivae), start=1):
        for model, mcc in (("ivae", ivae_mcc), ("vae", vae), ("beta_vae", vae - 0.05)):
            rows.append(
                {"run_id": f"model={model}_dseed={seed}", "status": "ok", "model": model,
                 "data_seed": seed, "model_seed": 1, "mcc": mcc, "mcc_mean": mcc,
                 "neg_elbo": 1.0, "matrix_cond": 2.0 + seed, "matrix_cima": 0.1 * seed,
                 "mixing_cima": 3.0 + seed}
            )  # fmt: skip
    return pd.DataFrame(rows)


def verdicts(table: pd.DataFrame) -> dict[str, tuple[str, str, str]]:
    results = judge_all(fig2a.CLAIMS, ExperimentData(table), None)
    return {r.claim_id: (r.verdict, r.ours, r.detail) for r in results}


def test_each_claim_is_judged_on_the_authors_dataset_and_on_fresh_draws_apart():
    rows = verdicts(summary())
    assert rows["iVAE.fig2a.ivae"][0] == REPRODUCED  # 0.97 on seed 1 alone
    assert rows["iVAE.fig2a.ivae"][1].startswith("0.970")
    assert rows["iVAE.fig2a.ivae.fresh"][0] == NOT_REPRODUCED  # median 0.55 over seeds 2-4
    assert rows["iVAE.fig2a.ivae.fresh"][1].startswith("0.550")
    assert "0.92" in rows["iVAE.fig2a.ivae"][2]  # the authors' code's own result is quoted
    assert "0.92" not in rows["iVAE.fig2a.ivae.fresh"][2]
    assert rows["iVAE.fig2a.baselines"][0] == REPRODUCED  # 0.97 - 0.5
    assert rows["iVAE.fig2a.baselines.fresh"][0] == PARTLY  # 0.55 - 0.5: above, not clearly


def test_a_sweep_without_data_seed_one_has_no_authors_row():
    table = summary()
    rows = verdicts(table[table["data_seed"] != 1])
    assert rows["iVAE.fig2a.ivae"][0] == NO_DATA
    assert "the authors' dataset" in rows["iVAE.fig2a.ivae"][2]
    assert rows["iVAE.fig2a.ivae.fresh"][0] == NOT_REPRODUCED


def test_mixing_correlations_read_the_fresh_draws_only():
    table = summary(fresh_ivae=(0.9, 0.8, 0.7))  # falls as every property grows: rho = -1
    cells = fig2a.mixing_correlations(table)
    assert cells["ivae", "mixing_cima"][0] == pytest.approx(-1.0)
    assert cells["ivae", "mixing_cima"][2] == 3  # seed 1 left out
    # seed 1 is the best and the best conditioned: with it the correlation would stay -1,
    # so make it the worst to see that it is left out
    table.loc[(table["data_seed"] == 1) & (table["model"] == "ivae"), "mcc"] = 0.1
    assert fig2a.mixing_correlations(table)["ivae", "mixing_cima"][0] == pytest.approx(-1.0)
    row = verdicts(table)["iVAE.fig2a.mixing"]
    assert row[0] == REPORTED and "ρ = -1.00" in row[2]
    assert np.isnan(fig2a.mixing_correlations(table)["vae", "mixing_cima"][0])  # constant MCC
