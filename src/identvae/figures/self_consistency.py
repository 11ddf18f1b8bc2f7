"""Self-consistency figures of a decoder-precision sweep (E3): posterior variances, the error of
decoding the posterior mean, and the MLE decoder precision, all against log10 γ².

Every point is one run (or one latent dimension of one run) with status "ok"; the x-axis ticks
carry the run counts per γ², failed runs included, so a run that did not finish is never silently
missing. Points are coloured by log10 γ² with one shared colour bar. The points and the log-log
fits come from :mod:`identvae.analysis` (the experiment's table and claims use the same)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from identvae.analysis.fits import LogLogFit, fit_loglog
from identvae.analysis.self_consistency import finite_points, run_points, variance_points
from identvae.figures.gamma_sweep import count_labels, power_of_ten_label
from identvae.figures.style import COLORS, FIG_WIDTH, apply_style

CMAP = "viridis"


def _gammas(summary: pd.DataFrame) -> list[float]:
    return sorted(float(g) for g in summary["gamma2"].dropna().unique() if g > 0)


def _norm(gammas: list[float]) -> Normalize:
    logs = np.log10(gammas) if gammas else np.array([0.0])
    lo, hi = float(logs.min()), float(logs.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return Normalize(vmin=lo, vmax=hi)


def _scatter_by_gamma(ax, x, y, rng, cmap, norm, offset=0.0, width=0.08, s=12) -> None:
    """One dot per point at (jittered) log10 γ², coloured by log10 γ² as the colour bar."""
    ax.scatter(
        x + offset + _jitter(len(x), rng, width),
        y,
        c=cmap(norm(x)),
        s=s,
        edgecolors="white",
        linewidths=0.3,
        alpha=0.9,
        zorder=3,
    )


def _jitter(n: int, rng: np.random.Generator, width: float) -> np.ndarray:
    return rng.uniform(-width, width, size=n)


def _gamma_axis(ax: Axes, summary: pd.DataFrame, gammas: list[float], counts: bool) -> None:
    """x ticks at each γ² (as powers of ten) with "n=<ok runs>" and non-ok counts below."""
    if not gammas:
        return
    positions = np.log10(gammas)
    labels = [power_of_ten_label(g) for g in gammas]
    if counts:
        extra = count_labels(summary, "gamma2", gammas)
        labels = [f"{t}\n{c}" for t, c in zip(labels, extra, strict=True)]
    ax.set_xticks(positions, labels)
    ax.set_xlim(positions.min() - 0.5, positions.max() + 0.5)
    ax.set_xlabel(r"decoder precision $\gamma^2$")
    ax.grid(True, axis="both")


def _fit_label(fit: LogLogFit) -> str:
    return f"fit, slope {fit.slope:.2f}".replace("-", "−")  # typographic minus, as in "−1"


def _draw_fit(ax: Axes, fit: LogLogFit, xs: np.ndarray, label: str, **style: object) -> Line2D:
    x = np.array([xs.min() - 0.3, xs.max() + 0.3])
    (line,) = ax.plot(x, fit.slope * x + fit.intercept, label=label, zorder=5, **style)
    return line


def _no_data(ax: Axes) -> None:
    ax.text(
        0.5,
        0.5,
        "no finished run",
        transform=ax.transAxes,
        ha="center",
        va="center",
        color=COLORS["annotation"],
    )


def _colorbar(fig: Figure, axes: list[Axes], norm: Normalize, gammas: list[float]) -> None:
    mappable = plt.cm.ScalarMappable(norm=norm, cmap=CMAP)
    cbar = fig.colorbar(mappable, ax=axes, pad=0.02, fraction=0.05, aspect=30)
    cbar.set_label(r"$\log_{10}\gamma^2$")
    if gammas:
        cbar.set_ticks(np.log10(gammas))
        cbar.set_ticklabels([f"{np.log10(g):g}" for g in gammas])


def plot_self_consistency(
    summary: pd.DataFrame, obs_dim: int | None = None, title: str | None = None
) -> Figure:
    """Two panels against log10 γ², one shared colour bar (log10 γ²).

    Left: log10 σ_k² (filled dots, one per latent dimension per ok run) and its self-consistency
    prediction 1 / (−(log p0)'' + γ² ‖J̄_k‖²) (open diamonds, drawn slightly to the right), with
    the least-squares fit through the observed points and a slope −1 reference through their
    centroid. Right: log10 of the squared error of decoding the posterior mean, per ok run:
    ‖f(μ(x)) − x‖² averaged over samples (= ``obs_dim`` × ``mse_obs_decoded_mean_latents``)
    when ``obs_dim`` is given, else the per-coordinate mean squared error."""
    apply_style()
    gammas = _gammas(summary)
    norm = _norm(gammas)
    cmap = plt.get_cmap(CMAP)
    rng = np.random.default_rng(0)

    fig, (left, right) = plt.subplots(
        1, 2, figsize=(FIG_WIDTH, 2.9), layout="constrained", sharex=True
    )

    pts = variance_points(summary)
    obs = finite_points(pts, "log10_var")
    pred = finite_points(pts, "log10_pred")
    handles: list[object] = []
    if len(obs):
        x = obs["log10_gamma2"].to_numpy()
        _scatter_by_gamma(left, x, obs["log10_var"], rng, cmap, norm, offset=-0.07, width=0.05, s=9)
        handles.append(
            Line2D([], [], ls="", marker="o", color="#777777", ms=4, label=r"$\sigma_k^2$ (VAE)")
        )
    if len(pred):
        x = pred["log10_gamma2"].to_numpy()
        left.scatter(
            x + 0.07 + _jitter(len(pred), rng, 0.05),
            pred["log10_pred"],
            facecolors="none",
            edgecolors=cmap(norm(x)),
            marker="D",
            s=11,
            linewidths=0.7,
            zorder=3,
        )
        handles.append(
            Line2D([], [], ls="", marker="D", mfc="none", color="#777777", ms=4, label="predicted")
        )
    fit = fit_loglog(obs["log10_gamma2"].to_numpy(), obs["log10_var"].to_numpy())
    if fit.ok:
        xs = obs["log10_gamma2"].to_numpy()
        handles.append(_draw_fit(left, fit, xs, _fit_label(fit), color="black", lw=1.0))
        ref = LogLogFit(-1.0, float(obs["log10_var"].mean() + xs.mean()), fit.n)
        handles.append(
            _draw_fit(left, ref, xs, "slope −1", color=COLORS["chance"], lw=1.0, ls="--")
        )
    if not len(obs):
        _no_data(left)
    left.set_ylabel(r"$\log_{10}\sigma_k^2$")
    left.set_title("posterior variances", fontsize=9)
    left.legend(handles=handles, loc="lower left", frameon=False, fontsize=7, handlelength=1.5)

    if obs_dim:
        err = run_points(summary, "mse_obs_decoded_mean_latents", scale=float(obs_dim))
        ylabel = r"$\log_{10}\|f(\mu(x)) - x\|^2$"
    else:
        err = run_points(summary, "mse_obs_decoded_mean_latents")
        ylabel = r"$\log_{10}$ mean$_i\,(f(\mu(x))_i - x_i)^2$"
    err = finite_points(err)
    if len(err):
        x = err["log10_gamma2"].to_numpy()
        _scatter_by_gamma(right, x, err["log10_value"], rng, cmap, norm)
        medians = err.groupby("log10_gamma2")["log10_value"].median()
        right.plot(
            medians.index, medians.to_numpy(), color="black", lw=1.0, marker="_", ms=10, zorder=4
        )
    else:
        _no_data(right)
    right.set_ylabel(ylabel)
    right.set_title("error of the decoded mean", fontsize=9)

    for ax in (left, right):
        _gamma_axis(ax, summary, gammas, counts=True)
    _colorbar(fig, [left, right], norm, gammas)
    if title:
        fig.suptitle(title)
    return fig


def plot_gamma2_mle(summary: pd.DataFrame, title: str | None = None) -> Figure:
    """log10 γ²_MLE (= −log10 of the decoded-mean MSE) per ok run against log10 γ², with the
    identity line and the least-squares fit; colour bar log10 γ² as in the self-consistency
    figure."""
    apply_style()
    gammas = _gammas(summary)
    norm = _norm(gammas)
    cmap = plt.get_cmap(CMAP)
    rng = np.random.default_rng(1)

    fig, ax = plt.subplots(figsize=(0.62 * FIG_WIDTH, 2.9), layout="constrained")
    pts = run_points(summary, "gamma2_mle")
    pts = finite_points(pts)
    handles: list[object] = []
    if len(pts):
        x = pts["log10_gamma2"].to_numpy()
        _scatter_by_gamma(ax, x, pts["log10_value"], rng, cmap, norm)
    else:
        _no_data(ax)
    if gammas:
        lo, hi = np.log10(gammas[0]) - 0.5, np.log10(gammas[-1]) + 0.5
        handles += ax.plot(
            [lo, hi], [lo, hi], color=COLORS["chance"], ls="--", lw=1.0, label="identity", zorder=2
        )
    fit = fit_loglog(pts["log10_gamma2"].to_numpy(), pts["log10_value"].to_numpy())
    if fit.ok:
        xs = pts["log10_gamma2"].to_numpy()
        handles.append(_draw_fit(ax, fit, xs, _fit_label(fit), color="black"))
    ax.set_ylabel(r"$\log_{10}\gamma^2_{\mathrm{MLE}}$")
    if handles:
        ax.legend(handles=handles, loc="upper left", frameon=False, fontsize=7)
    _gamma_axis(ax, summary, gammas, counts=True)
    _colorbar(fig, [ax], norm, gammas)
    if title:
        fig.suptitle(title)
    return fig
