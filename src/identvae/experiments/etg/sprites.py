"""E5 (etg_sprites): Sprites images, a convolutional VAE with a learned Beta prior, γ² × seeds.

The paper: at γ² = 1 (64 × 64 images) the batch MCC climbs over training from ≈ 0.6 to ≈ 0.97
while the decoder's c_IMA falls by more than an order of magnitude, and γ² = 1 recovers the
factors better than much smaller or larger precisions. The reconstruction term sums over pixels,
so at another resolution the γ² that plays the paper's role is rescaled to keep γ² × pixels
constant (:func:`equivalent_gamma2`); every claim names the γ² it used and its paper
equivalent."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from identvae.analysis import phrases
from identvae.analysis.chance import settings_chance_mcc
from identvae.analysis.runs import OK, finite, ok_runs
from identvae.analysis.scales import safe_log10
from identvae.claims import Claim, Condition, Measured, NoData, Runs, Threshold
from identvae.experiments import registry
from identvae.experiments.inputs import ExperimentData
from identvae.figures.gamma_sweep import plot_gamma_sweep
from identvae.figures.sprites import plot_over_training, plot_reconstructions, plot_traversal
from identvae.metrics.mcc import matching

EXPERIMENT = "etg_sprites"
TITLE = "E5: Sprites images, conv VAE with learned Beta prior"
#: The paper's image side; its γ² values are for 64 × 64 × 3 pixels.
PAPER_RESOLUTION = 64
#: The paper's headline precision, and the ones it calls clearly worse (smaller, larger).
PAPER_HEADLINE, PAPER_SMALL, PAPER_LARGE = 1.0, 0.1, 100.0

TABLE_COLUMNS = [
    "gamma2",
    "paper_gamma2",
    "check",
    "epoch",
    "runs",
    "failed",
    "mcc_batch_mean",
    "mcc_batch_std",
    "log10_cima_batch_median",
]


def equivalent_gamma2(paper_gamma2: float, resolution: int) -> float:
    """The γ² at ``resolution`` whose reconstruction term weighs the image as the paper's
    ``paper_gamma2`` does at 64 × 64 (γ² × pixels constant)."""
    return paper_gamma2 * (PAPER_RESOLUTION / resolution) ** 2


@dataclass(frozen=True)
class Context:
    """The resolution, the chance level of batch MCC and the swept γ² playing the paper's
    γ² = 1 (the one nearest, in log, to its rescaled value)."""

    resolution: int
    chance_mcc: float
    headline: float
    warmup_epochs: int | None = None  # the KL warm-up's length, if training has one
    warmup_start: float | None = None

    def paper(self, gamma2: float) -> float:
        """The paper-scale γ² of a swept γ²."""
        return gamma2 / equivalent_gamma2(1.0, self.resolution)


def context(settings: dict) -> Context:
    resolution = int(settings["data"]["resolution"])
    target = equivalent_gamma2(PAPER_HEADLINE, resolution)
    gammas = np.asarray(settings["sweep"].get("gamma2", [settings["train"]["gamma2"]]), float)
    headline = float(gammas[np.argmin(np.abs(np.log10(gammas) - np.log10(target)))])
    warmup = settings["train"].get("kl_warmup")
    if warmup is not None and not warmup["epochs"]:
        warmup = None
    return Context(
        resolution,
        settings_chance_mcc(settings),
        headline,
        None if warmup is None else int(warmup["epochs"]),
        None if warmup is None else float(warmup["start"]),
    )


def _at(frame: pd.DataFrame, gamma2: float) -> pd.DataFrame:
    return frame[np.isclose(frame["gamma2"].astype(float), gamma2)]


def _log_median(values: pd.Series) -> float:
    logs = finite(safe_log10(values.to_numpy(float)))
    return float(np.median(logs)) if logs.size else np.nan


# --- table ---------------------------------------------------------------------------------------


def table(data: ExperimentData, ctx: Context) -> pd.DataFrame:
    """Per γ²: one row per check (statistics over the finished runs' histories) and one for the
    selected check (from the summary); failed runs are counted, not averaged."""
    rows = []
    for gamma2, runs in data.summary.groupby("gamma2", sort=True):
        gamma2 = float(gamma2)
        counts = {"runs": len(runs), "failed": int((runs["status"] != OK).sum())}
        base = {"gamma2": gamma2, "paper_gamma2": ctx.paper(gamma2)}
        history = _at(data.histories, gamma2)
        for epoch, checks in history[history["status"] == OK].groupby("epoch", sort=True):
            rows.append(
                base
                | {"check": "epoch", "epoch": int(epoch)}
                | counts
                | _stats(checks["mcc_batch"], checks["cima_batch"])
            )
        ok = ok_runs(runs)
        rows.append(
            base
            | {"check": "selected", "epoch": ok["selected_epoch"].median()}
            | counts
            | _stats(ok["mcc_batch"], ok["cima_batch"])
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _stats(mcc: pd.Series, cima: pd.Series) -> dict[str, float]:
    mcc = mcc.astype(float)
    return {
        "mcc_batch_mean": mcc.mean(),
        "mcc_batch_std": mcc.std(),
        "log10_cima_batch_median": _log_median(cima),
    }


# --- figures and captions ------------------------------------------------------------------------


def figure_training(data: ExperimentData, ctx: Context) -> Figure:
    gammas = sorted(float(g) for g in data.histories["gamma2"].unique())
    labels = {g: f"γ² = {g:g} (paper {ctx.paper(g):g})" for g in gammas}
    return plot_over_training(
        data.histories, ctx.headline, labels, ctx.chance_mcc, TITLE, ctx.warmup_epochs
    )


def figure_gamma(data: ExperimentData, ctx: Context) -> Figure:
    gammas = (float(g) for g in data.summary["gamma2"].dropna().unique())
    names = {g: f"{g:g}\n(paper {ctx.paper(g):g})" for g in gammas}
    return plot_gamma_sweep(data.summary, chance_mcc=ctx.chance_mcc, title=TITLE, names=names)


def _shown_runs(data: ExperimentData) -> dict[float, str]:
    """The run drawn per γ²: its finished run of the lowest model seed on the lowest data seed
    (one dataset, so that every row shows the same images)."""
    ok = ok_runs(data.summary)
    ok = ok[ok["data_seed"] == ok["data_seed"].min()].sort_values("model_seed")
    return {float(g): str(cell["run_id"].iloc[0]) for g, cell in ok.groupby("gamma2")}


def _pictures(data: ExperimentData) -> np.lib.npyio.NpzFile:
    if data.pictures is None:
        raise ValueError(f"{EXPERIMENT}: the pictures figures need the pictures input")
    return np.load(data.pictures)


def figure_reconstructions(data: ExperimentData, ctx: Context) -> Figure:
    shown = _shown_runs(data)
    with _pictures(data) as pictures:
        images = pictures[f"{next(iter(shown.values()))}/images"]
        rows = [
            (f"γ² = {g:g}\n(paper {ctx.paper(g):g})", pictures[f"{run}/reconstructions"])
            for g, run in sorted(shown.items())
        ]
    return plot_reconstructions(images, rows, f"{TITLE}: reconstructions")


def figure_traversal(data: ExperimentData, ctx: Context) -> Figure:
    run = _shown_runs(data).get(ctx.headline)
    if run is None:
        raise ValueError(f"{EXPERIMENT}: no finished run at the headline γ² {ctx.headline:g}")
    with _pictures(data) as pictures:
        traversal = pictures[f"{run}/traversal"]
        values = pictures[f"{run}/traversal_values"]
        correlation = pictures[f"{run}/correlation"]
    labels = [
        f"z{i + 1} ~ {factor}\n{v[0]:.2f}→{v[-1]:.2f}"
        for i, (v, factor) in enumerate(zip(values, latent_factors(correlation), strict=True))
    ]
    return plot_traversal(traversal, labels, f"{TITLE}: latent traversal at γ² = {ctx.headline:g}")


def latent_factors(correlation: np.ndarray) -> list[str]:
    """Per latent, the factor the MCC's matching gives it and their |correlation| ("hue
    0.97"), from the |correlation| matrix [factors, latents]; "none" for a latent left
    unmatched (more latents than factors)."""
    from identvae.data.sprites import FACTOR_NAMES  # here: the renderer's module loads torch

    names = ["none"] * correlation.shape[1]
    for f, z in zip(*matching(correlation), strict=True):
        names[z] = f"{FACTOR_NAMES[f]} {correlation[f, z]:.2f}"
    return names


def _setting_phrase(data: ExperimentData, ctx: Context) -> str:
    summary = data.summary
    scale = (
        ""
        if ctx.resolution == PAPER_RESOLUTION
        else " (the paper's γ² = 1 at 64 × 64, rescaled to keep γ² × pixels constant)"
    )
    return (
        f"A convolutional VAE with a learned Beta prior trained on {ctx.resolution} × "
        f"{ctx.resolution} Sprites images (one triangle per image; its x, y, scale and hue are "
        f"the sources), {summary['model_seed'].nunique()} model seeds per γ²; the headline "
        f"γ² is {phrases.format_power(ctx.headline)}{scale}.{_warmup_phrase(ctx)}"
    )


def _warmup_phrase(ctx: Context) -> str:
    if ctx.warmup_epochs is None:
        return ""
    return (
        f" Beyond the paper, training starts with a KL warm-up: the KL term's weight rises "
        f"geometrically from {ctx.warmup_start:g} to 1 over epochs 1–{ctx.warmup_epochs} (by "
        f"the β-VAE equivalence, the decoder precision falls from {1 / ctx.warmup_start:g} γ² "
        "to γ²); every check scores the ELBO itself."
    )


def caption_training(data: ExperimentData, ctx: Context) -> str:
    accounting = phrases.accounting(data.summary["status"], "their curves are not drawn")
    text = (
        f"{_setting_phrase(data, ctx)} Left: batch MCC at each validation check, mean over the "
        "seeds (band: ± one std at the headline γ²); right: median log10 batch c_IMA of the "
        f"decoder at each check. {accounting} {phrases.chance_phrase(ctx.chance_mcc)}"
    )
    return phrases.experiment_caption(EXPERIMENT, registry.get(EXPERIMENT).spec_section, text)


def caption_gamma(data: ExperimentData, ctx: Context) -> str:
    accounting = phrases.accounting(
        data.summary["status"], "they are counted under their γ² but not drawn"
    )
    text = (
        f"{_setting_phrase(data, ctx)} Batch MCC (left axis) and log10 batch c_IMA of the "
        "decoder (right axis) at each run's selected check against γ²; dots are runs, bars "
        f"medians. {accounting} {phrases.chance_phrase(ctx.chance_mcc)} {phrases.METRICS_AT}"
    )
    return phrases.experiment_caption(EXPERIMENT, registry.get(EXPERIMENT).spec_section, text)


def _pictures_phrase(data: ExperimentData) -> str:
    shown = _shown_runs(data)
    seeds = data.summary.set_index("run_id").loc[list(shown.values()), "model_seed"]
    return (
        f"Each γ²'s run of the lowest finished model seed ({', '.join(map(str, seeds))}) on "
        "the lowest data seed, with "
        "the weights of its selected check. "
        f"{phrases.accounting(data.summary['status'], 'they are not drawn')}"
    )


def caption_reconstructions(data: ExperimentData, ctx: Context) -> str:
    text = (
        f"{_setting_phrase(data, ctx)} First row: the first training images; then, per γ², "
        "their reconstructions (the decoder at the posterior mean, clipped to [0, 1]). "
        f"{_pictures_phrase(data)}"
    )
    return phrases.experiment_caption(EXPERIMENT, registry.get(EXPERIMENT).spec_section, text)


def caption_traversal(data: ExperimentData, ctx: Context) -> str:
    text = (
        f"{_setting_phrase(data, ctx)} The headline γ²'s run: row i decodes latent i swept "
        "evenly from the 2nd to the 98th percentile of its posterior means over the training "
        "images (the range on the left), the other latents held at the first image's posterior "
        "mean; a latent that took one factor (x, y, scale or hue) moves only that factor. "
        "Each row names the factor the MCC's matching pairs with its latent and their "
        "|correlation| over the training images. "
        f"{_pictures_phrase(data)}"
    )
    return phrases.experiment_caption(EXPERIMENT, registry.get(EXPERIMENT).spec_section, text)


# --- claims --------------------------------------------------------------------------------------


def _ends(data: ExperimentData, ctx: Context, column: str) -> tuple[pd.DataFrame, Runs]:
    """Each finished headline run's ``column`` at its first and its last check."""
    runs = _at(data.summary, ctx.headline)
    history = _at(data.histories, ctx.headline)
    history = history[history["status"] == OK].sort_values("epoch")
    ends = history.groupby("run_id")[column].agg(["first", "last"])
    ends = ends[np.isfinite(ends["first"].astype(float)) & np.isfinite(ends["last"].astype(float))]
    return ends, Runs(len(ends), len(runs))


def _headline_name(ctx: Context) -> str:
    return f"γ²={phrases.format_power(ctx.headline)}"


def mcc_climb(data: ExperimentData, ctx: Context) -> Measured | NoData:
    """Mean batch MCC at the headline γ²: last check minus first check."""
    ends, runs = _ends(data, ctx, "mcc_batch")
    groups = {_headline_name(ctx): runs}
    if ends.empty:
        return NoData("no finished run at the headline γ² has checks", groups)
    first, last = float(ends["first"].mean()), float(ends["last"].mean())
    return Measured(
        last - first,
        f"{first:.2f} → {last:.2f}",
        f"mean batch MCC at γ²={phrases.format_power(ctx.headline)} (paper γ² = "
        f"{ctx.paper(ctx.headline):g}) from the first check to the last: {first:.3f} → "
        f"{last:.3f}, a climb of {last - first:.3f}"
        + (
            f" (training had a KL warm-up over epochs 1–{ctx.warmup_epochs})"
            if ctx.warmup_epochs
            else ""
        ),
        groups=groups,
    )


def mcc_final(data: ExperimentData, ctx: Context) -> Measured | NoData:
    """Mean batch MCC at the headline γ²'s last check."""
    ends, runs = _ends(data, ctx, "mcc_batch")
    groups = {_headline_name(ctx): runs}
    if ends.empty:
        return NoData("no finished run at the headline γ² has checks", groups)
    last = float(ends["last"].mean())
    return Measured(
        last,
        f"{last:.2f}",
        f"mean batch MCC at the last check, γ²={phrases.format_power(ctx.headline)}: {last:.3f}",
        groups=groups,
    )


def cima_fall(data: ExperimentData, ctx: Context) -> Measured | NoData:
    """Orders of magnitude the median batch c_IMA at the headline γ² falls over training."""
    ends, runs = _ends(data, ctx, "cima_batch")
    groups = {_headline_name(ctx): runs}
    if ends.empty:
        return NoData("no finished run at the headline γ² has checks", groups)
    first, last = _log_median(ends["first"]), _log_median(ends["last"])
    return Measured(
        first - last,
        f"{first - last:.1f} orders",
        f"median log10 batch c_IMA at γ²={phrases.format_power(ctx.headline)}, first check → "
        f"last: {first:.2f} → {last:.2f}",
        groups=groups,
    )


def best_gamma(data: ExperimentData, ctx: Context) -> Measured | NoData:
    """The headline γ²'s mean batch MCC at the selected check minus the best of the smallest γ²
    and of every γ² at or above the paper's 100 (rescaled); whether the headline is the best."""
    summary = data.summary
    gammas = sorted(float(g) for g in summary["gamma2"].unique())
    large = equivalent_gamma2(PAPER_LARGE, ctx.resolution) * (1 - 1e-9)
    others = sorted({gammas[0], *[g for g in gammas if g >= large]} - {ctx.headline})
    if not others or gammas[0] >= ctx.headline:
        return NoData("needs a γ² below the headline and one at or above the paper's 100")

    def mean_mcc(gamma2: float) -> tuple[float, Runs]:
        runs = _at(summary, gamma2)
        values = finite(ok_runs(runs)["mcc_batch"])
        return (float(values.mean()) if values.size else np.nan), Runs(len(values), len(runs))

    means = {g: mean_mcc(g) for g in gammas}
    groups = {f"γ²={phrases.format_power(g)}": means[g][1] for g in [ctx.headline, *others]}
    head = means[ctx.headline][0]
    rival = max(others, key=lambda g: means[g][0])
    margin = head - means[rival][0]
    best = max(gammas, key=lambda g: means[g][0])
    listed = ", ".join(
        f"{phrases.format_power(g)} (paper {ctx.paper(g):g}): {means[g][0]:.3f}" for g in gammas
    )
    return Measured(
        margin,
        f"{head:.2f} vs {means[rival][0]:.2f}",
        f"mean batch MCC at the selected check per γ²: {listed}; the headline minus the best "
        f"of the compared γ² ({phrases.format_power(rival)}) = {margin:.3f}",
        groups=groups,
        holds={"best": best == ctx.headline},
    )


CLAIMS = (
    Claim(
        "E5.mcc_climb",
        EXPERIMENT,
        "At γ² = 1 the batch MCC climbs over training (mean over seeds, first check to last).",
        "≈ 0.6 → ≈ 0.97",
        mcc_climb,
        Threshold("the climb of the mean batch MCC", reproduced=0.2, partly=0.1),
        min_ok_runs=2,
    ),
    Claim(
        "E5.mcc_final",
        EXPERIMENT,
        "At γ² = 1 the VAE ends up recovering the factors: mean batch MCC at the last check.",
        "≈ 0.97",
        mcc_final,
        Threshold("the mean batch MCC at the last check", reproduced=0.9, partly=0.8),
        min_ok_runs=2,
    ),
    Claim(
        "E5.cima_fall",
        EXPERIMENT,
        "At γ² = 1 the decoder's batch c_IMA falls by more than an order of magnitude over "
        "training (median over seeds, first check to last).",
        "> 1 order",
        cima_fall,
        Threshold("the orders of magnitude", reproduced=1.0, partly=0.5),
        min_ok_runs=2,
    ),
    Claim(
        "E5.best_gamma",
        EXPERIMENT,
        "γ² = 1 recovers the factors best; much smaller (0.1) or larger (≥ 100) γ² are clearly "
        "worse (mean batch MCC at the selected check).",
        "γ² = 1 best",
        best_gamma,
        Threshold(
            "the headline's margin over the best compared γ²",
            reproduced=0.1,
            partly=0.0,
            partly_strict=True,
            conditions=(Condition("best", "the headline γ² has the highest mean MCC", "cap"),),
        ),
        min_ok_runs=2,
    ),
)
