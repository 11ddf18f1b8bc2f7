"""E4, the ELBO gap: shared logic of the two experiments (one per mixing), whose thin modules are
:mod:`identvae.experiments.etg_gap_triangular` (IMA-violating) and
:mod:`identvae.experiments.etg_gap_ima` (IMA class).

Setting (spec E4): the decoder is fixed to the true mixing f of the run's dataset
(``model.decoder: true_mixing``) and only the encoder is trained, by the ensemble trainer, per
γ² on a half-decade grid × model seeds, Gaussian sources and prior. At the selected check each run
records (see :mod:`identvae.metrics.elbo_gap`): ``gap_logp`` = E[log p − ELBO*], ``gap_lima`` =
E[L_IMA − ELBO*], ``gap_is`` = E[log p_γ − ELBO*] (importance-sampled finite-γ likelihood),
``cima_mixing`` = C_IMA of f, and ``gap_logp_amortised`` (the trained encoder's own q, no
per-point refinement). The theory: ``gap_logp`` → C_IMA and ``gap_lima`` → 0 as γ → ∞; for an
IMA-class mixing C_IMA = 0, so the gap itself vanishes.

**Choice** (spec: "amortised MLP, or free per-sample Gaussian parameters"): ELBO* is the ELBO of
per-sample Gaussians optimised from the trained encoder's output (the amortised encoder alone
falls short by ≈ γ²/2 · its reconstruction error, which grows without bound with γ²); the
amortised gap is kept in the table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from identvae.claims import NO_DATA, NOT_REPRODUCED, PARTLY, REPRODUCED, ClaimResult
from identvae.summary import unfinished_counts

OK = "ok"

#: γ² grid of the paper-scale sweep: 10^1, 10^1.5, ..., 10^5.
GAMMA2_GRID = [float(10 ** (k / 2)) for k in range(2, 11)]

#: Claim thresholds at the largest γ²: |median gap − target| must be within
#: max(REL × C_IMA, ABS) nats (reproduced) or max(REL_PARTLY × C_IMA, ABS_PARTLY) (partly).
REL, ABS = 0.05, 0.05
REL_PARTLY, ABS_PARTLY = 0.2, 0.2

TABLE_COLUMNS = [
    "gamma2",
    "log10_gamma2",
    "runs",
    "failed",
    "gap_logp_median",
    "gap_lima_median",
    "gap_is_median",
    "cima_mixing_median",
    "gap_logp_amortised_median",
    "elbo_star_se_median",
]
MEDIANS = ("gap_logp", "gap_lima", "gap_is", "cima_mixing", "gap_logp_amortised", "elbo_star_se")

MIXING_TEXT = {
    "triangular_mlp": "an invertible MLP with triangular weights and smooth leaky ReLU "
    "(lower-triangular Jacobian, IMA-violating)",
    "elementwise_orthogonal": "an elementwise smooth leaky ReLU followed by an orthogonal matrix "
    "(column-orthogonal Jacobian: IMA class, C_IMA = 0)",
    "moebius": "a Möbius transform (conformal: IMA class, C_IMA = 0)",
    "linear": "a linear map with non-orthogonal columns (constant c_IMA)",
}


def _ok(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["status"] == OK]


def _median(values: pd.Series) -> float:
    values = values.astype(float)
    values = values[np.isfinite(values)]
    return float(values.median()) if len(values) else np.nan


def table(summary: pd.DataFrame, **_: Any) -> pd.DataFrame:
    """One row per γ² (ascending): runs, failed (status != "ok", counted, not dropped) and the
    medians over finished runs of the gaps, C_IMA and the ELBO's Monte-Carlo error."""
    rows = []
    for gamma2, group in summary.groupby("gamma2", sort=True):
        ok = _ok(group)
        row = {
            "gamma2": float(gamma2),
            "log10_gamma2": float(np.log10(gamma2)) if gamma2 > 0 else np.nan,
            "runs": len(group),
            "failed": int((group["status"] != OK).sum()),
        }
        for name in MEDIANS:
            row[f"{name}_median"] = _median(ok[name]) if name in ok else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=TABLE_COLUMNS).astype({"runs": int, "failed": int})


def figure(summary: pd.DataFrame, title: str | None = None, **_: Any) -> Figure:
    from identvae.figures.elbo_gap import plot_elbo_gap

    return plot_elbo_gap(summary, title=title)


def caption(
    summary: pd.DataFrame,
    mixing: str | None = None,
    n_samples: int | None = None,
    gap_points: int | None = None,
    n_sources: int | None = None,
    sources: str = "gaussian",
    prior: str = "gaussian",
    **_: Any,
) -> str:
    """One-paragraph caption with the counts and the largest-γ² numbers read from the data."""
    from identvae.figures.elbo_gap import mixing_cima

    n_gamma = summary["gamma2"].nunique()
    seeds = summary["model_seed"].nunique() if "model_seed" in summary else "?"
    parts = unfinished_counts(summary["status"])
    if not parts:
        runs_phrase = f"All {len(summary)} runs finished."
    else:
        runs_phrase = (
            f"Of {len(summary)} runs, {parts}; they have no point and are marked per γ² above "
            "the axis."
        )
    mixing_phrase = MIXING_TEXT.get(mixing or "", f"the mixing {mixing!r}")
    cima = mixing_cima(summary)
    last = _largest_gamma_medians(summary)
    numbers = ""
    if last is not None:
        g2, med = last
        numbers = (
            f" At the largest γ² = {g2:.3g}: median E[log p − ELBO*] = {med['gap_logp']:.3f}, "
            f"E[L_IMA − ELBO*] = {med['gap_lima']:.3f}, IS finite-γ gap = {med['gap_is']:.3f}, "
            f"C_IMA = {cima:.3f} nats (median MC standard error of ELBO* "
            f"{med['elbo_star_se']:.4f})."
        )
    data_phrase = f"{n_samples} samples, " if n_samples else ""
    points_phrase = f" on {gap_points} validation points" if gap_points else ""
    return (
        "ELBO gap of a VAE whose decoder is fixed to the true mixing, "
        f"{mixing_phrase}, of {n_sources or '?'}-d {sources} sources ({data_phrase}{prior} "
        f"prior), against the decoder precision γ² ({n_gamma} values, {seeds} model seeds "
        "each). "
        "Filled circles: E[log p − ELBO*] with log p the noiseless change-of-variables density; "
        "squares: E[L_IMA − ELBO*] with L_IMA = log p − c_IMA; open diamonds: E[log p_γ − ELBO*] "
        "with the finite-γ likelihood log p_γ estimated by importance sampling (full-covariance "
        "Laplace proposal at the refined posterior mean); lines join the medians over seeds; the "
        "dashed line is the mixing's "
        "C_IMA. Theory: the first tends to C_IMA and the second to 0 as γ grows. "
        "ELBO* is computed per run at its selected validation check" + points_phrase + ": "
        "the trained amortised encoder's q(z|x) is refined per sample by Newton steps on the "
        "ELBO (a choice the spec allows: the amortised encoder alone falls short by about γ²/2 "
        "times its reconstruction error, see the table's amortised gap), and its ELBO is "
        f"estimated by Monte Carlo with fresh samples. {runs_phrase}{numbers}"
    )


def extras(settings: dict) -> dict:
    """What the caption needs from the experiment's settings."""
    train = settings.get("train", {})
    return {
        "mixing": settings["data"]["mixing"],
        "n_samples": settings["data"].get("n_samples"),
        "n_sources": settings["data"].get("n_sources"),
        "sources": settings["data"].get("sources", "gaussian"),
        "prior": settings.get("model", {}).get("prior", "gaussian"),
        "gap_points": train.get("gap_points"),
    }


def _largest_gamma_medians(summary: pd.DataFrame) -> tuple[float, dict[str, float]] | None:
    gammas = np.sort(summary["gamma2"].dropna().unique().astype(float))
    if not len(gammas):
        return None
    g2 = float(gammas[-1])
    ok = _ok(summary)
    at = ok[np.isclose(ok["gamma2"].astype(float), g2, rtol=1e-9)]
    return g2, {
        name: _median(at[name]) if name in at else np.nan
        for name in ("gap_logp", "gap_lima", "gap_is", "cima_mixing", "elbo_star_se")
    }


def _verdict(error: float, cima: float) -> tuple[str, float, float]:
    """Verdict for |gap − target| given C_IMA, and the two tolerances used."""
    scale = abs(cima) if np.isfinite(cima) else 0.0
    tol = max(REL * scale, ABS)
    tol_partly = max(REL_PARTLY * scale, ABS_PARTLY)
    if not np.isfinite(error):
        return NO_DATA, tol, tol_partly
    if error <= tol:
        return REPRODUCED, tol, tol_partly
    if error <= tol_partly:
        return PARTLY, tol, tol_partly
    return NOT_REPRODUCED, tol, tol_partly


def claims(summary: pd.DataFrame, experiment: str, ima_class: bool, **_: Any) -> list[ClaimResult]:
    """E4 claims at the largest γ² of the sweep, from medians over finished runs:

    - ``gap_to_cima``: E[log p − ELBO*] → C_IMA (for an IMA-class mixing: → 0);
    - ``gap_lima_to_zero``: E[L_IMA − ELBO*] → 0;
    - ``is_gap_to_cima`` (beyond the paper): the importance-sampled finite-γ gap → C_IMA too.

    Each is "reproduced" if |median − target| ≤ max(5 % of C_IMA, 0.05 nats), "partly" if
    ≤ max(20 % of C_IMA, 0.2 nats); "no data" if the largest γ² has no finished run."""
    prefix = f"{experiment}."
    last = _largest_gamma_medians(summary.reset_index(drop=True))
    n_at = ""
    if last is not None:
        rows = summary[np.isclose(summary["gamma2"].astype(float), last[0], rtol=1e-9)]
        n_at = f"{int((rows['status'] == OK).sum())} ok of {len(rows)} runs"
    target_text = "0 (IMA class: C_IMA = 0)" if ima_class else "C_IMA"
    specs = [
        (
            "gap_to_cima",
            "gap_logp",
            "cima",
            f"With the decoder fixed to the true mixing, the optimal-ELBO gap E[log p − ELBO*] "
            f"tends to {target_text} as γ² grows (checked at the largest γ²).",
            "→ 0" if ima_class else "→ C_IMA",
        ),
        (
            "gap_lima_to_zero",
            "gap_lima",
            "zero",
            "ELBO* tends to the IMA-regularised likelihood: E[L_IMA − ELBO*] → 0 as γ² grows "
            "(checked at the largest γ²).",
            "→ 0",
        ),
        (
            "is_gap_to_cima",
            "gap_is",
            "cima",
            "Beyond the paper: the true finite-γ gap E[log p_γ − ELBO*] (importance-sampled "
            f"log p_γ) also tends to {target_text} (checked at the largest γ²).",
            "— (not in the paper)",
        ),
    ]
    results = []
    for claim_id, column, target_kind, text, paper in specs:
        if last is None:
            results.append(
                ClaimResult(prefix + claim_id, experiment, text, paper, "n/a", NO_DATA, "no runs")
            )
            continue
        g2, med = last
        cima = med["cima_mixing"]
        value = med[column]
        target = 0.0 if target_kind == "zero" else cima
        error = abs(value - target) if np.isfinite(value) and np.isfinite(target) else np.nan
        verdict, tol, tol_partly = _verdict(error, cima)
        ours = "n/a" if not np.isfinite(value) else f"{value:.3f} (target {target:.3f})"
        detail = (
            f"median {column} at γ²={g2:.3g} = {value:.4f}, C_IMA = {cima:.4f}, "
            f"|median − target| = {error:.4f} ({n_at}); reproduced if ≤ {tol:.3f} "
            f"(max({REL:g}·C_IMA, {ABS:g})), partly if ≤ {tol_partly:.3f} "
            f"(max({REL_PARTLY:g}·C_IMA, {ABS_PARTLY:g}))"
        )
        results.append(
            ClaimResult(prefix + claim_id, experiment, text, paper, ours, verdict, detail)
        )
    return results
