"""E5 (Sprites) over training: batch MCC and log10 batch c_IMA of the decoder against the epoch,
one line per γ² (mean ± std over the seeds for MCC, median for c_IMA), the headline γ² drawn
bold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from identvae.analysis.scales import safe_log10
from identvae.figures.style import COLORS, FIG_WIDTH, apply_style, plt, std_band


def _gamma_colours(gammas: Sequence[float], headline: float) -> dict[float, str]:
    """A sequential colour per γ²; the headline γ² gets the MCC blue."""
    cmap = plt.get_cmap("Greys")
    others = [g for g in gammas if g != headline]
    shades = np.linspace(0.35, 0.75, max(len(others), 1))
    colours = {g: cmap(s) for g, s in zip(others, shades, strict=False)}
    colours[headline] = COLORS["mcc"]
    return colours


def plot_over_training(
    histories: pd.DataFrame,
    headline: float,
    labels: Mapping[float, str],
    chance_mcc: float | None = None,
    title: str | None = None,
    warmup_epochs: int | None = None,
) -> Figure:
    """Left: batch MCC (mean ± std over the finished runs of each γ²) per check; right: the
    median log10 batch c_IMA of the decoder per check. Every γ² in ``histories`` is drawn, in
    the legend as ``labels[γ²]``; with ``warmup_epochs``, the KL warm-up is shaded on both."""
    apply_style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(FIG_WIDTH, 3.1), layout="constrained")
    ok = histories[histories["status"] == "ok"]
    gammas = sorted(float(g) for g in histories["gamma2"].dropna().unique())
    colours = _gamma_colours(gammas, headline)
    for gamma2 in gammas:
        runs = ok[np.isclose(ok["gamma2"].astype(float), gamma2)]
        if runs.empty:
            continue
        bold = gamma2 == headline
        style = {"color": colours[gamma2], "lw": 2.0 if bold else 1.0, "zorder": 3 if bold else 2}
        label = labels[gamma2] + (" (headline)" if bold else "")
        mcc = runs.groupby("epoch")["mcc_batch"].agg(["mean", "std"]).reset_index()
        left.plot(mcc["epoch"], mcc["mean"], label=label, **style)
        if bold:
            std_band(left, mcc["epoch"], mcc["mean"], mcc["std"], colours[gamma2])
        cima = runs.assign(log_cima=safe_log10(runs["cima_batch"].to_numpy(float)))
        cima = cima.groupby("epoch")["log_cima"].median().reset_index()
        right.plot(cima["epoch"], cima["log_cima"], **style)
    if warmup_epochs:
        for ax in (left, right):
            ax.axvspan(0, warmup_epochs, color="0.9", zorder=0, lw=0)
        left.axvspan(0, 0, color="0.9", label=f"KL warm-up (epochs 1–{warmup_epochs})")
    if chance_mcc is not None and np.isfinite(chance_mcc):
        left.axhline(chance_mcc, color=COLORS["chance"], ls="--", lw=1.0, label="chance")
    left.set_ylim(0.0, 1.02)
    left.set_xlabel("epoch")
    left.set_ylabel("batch MCC")
    right.set_xlabel("epoch")
    right.set_ylabel(r"$\log_{10}$ batch $c_{\mathrm{IMA}}$ (decoder)")
    handles, names = left.get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 4), fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """[C, H, W] in [0, 1] -> [H, W, C] for imshow."""
    return np.clip(np.moveaxis(image, 0, -1), 0.0, 1.0)


def _image_grid(rows: Sequence[tuple[str, np.ndarray]], title: str | None) -> Figure:
    """One row of images per (label, images [k, C, H, W]), the label left of the row."""
    apply_style()
    columns = max(len(images) for _, images in rows)
    fig, axes = plt.subplots(
        len(rows),
        columns,
        figsize=(FIG_WIDTH, 0.45 + len(rows) * (FIG_WIDTH - 1.0) / columns),  # square cells
        squeeze=False,
        layout="constrained",
    )
    for (label, images), row in zip(rows, axes, strict=True):
        for ax, image in zip(row, images, strict=False):
            ax.imshow(_as_rgb(image), interpolation="nearest")
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        row[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def plot_reconstructions(
    images: np.ndarray, reconstructions: Sequence[tuple[str, np.ndarray]], title: str | None
) -> Figure:
    """The images [k, C, H, W] in the first row, then one row of reconstructions per
    (label, [k, C, H, W])."""
    return _image_grid([("images", images), *reconstructions], title)


def plot_traversal(traversal: np.ndarray, labels: Sequence[str], title: str | None) -> Figure:
    """A latent traversal [n, steps, C, H, W]: row i sweeps latent i (labelled ``labels[i]``)."""
    return _image_grid(list(zip(labels, traversal, strict=True)), title)
