"""The iVAE paper's plot kinds: scatter panels coloured by segment (Fig. 1), MCC over training
per model (Fig. 2a, the discrete supplement), final MCC against a setting per model (Fig. 2b)
and the final ELBO against MCC (the model-selection supplement)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from identvae.figures.style import FIG_WIDTH, PALETTE, apply_style, plt, std_band


def model_colours(models: Sequence[str]) -> dict[str, str]:
    """One fixed colour per model name, the iVAE first."""
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}


def plot_segment_scatter(
    panels: Sequence[tuple[str, np.ndarray]], labels: np.ndarray, title: str
) -> Figure:
    """One 2-D scatter per panel (title, points [N, 2]), each point coloured by its segment."""
    apply_style()
    fig, axes = plt.subplots(
        1, len(panels), figsize=(FIG_WIDTH, FIG_WIDTH / len(panels) + 0.9), layout="constrained"
    )
    for ax, (name, points) in zip(np.atleast_1d(axes), panels, strict=True):
        ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=2, alpha=0.5, linewidths=0)
        ax.set_title(name, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.suptitle(title)
    return fig


def plot_curves(
    panels: Sequence[tuple[str, pd.DataFrame]],
    models: Sequence[str],
    labels: Mapping[str, str],
    title: str,
    metric: str = "mcc",
    ylabel: str = "MCC",
    unit_range: bool = True,
) -> Figure:
    """One panel per (panel title, histories): mean ± std over runs of ``metric`` against the
    epoch, one line per model (finished runs only), the same colours in every panel;
    ``unit_range`` fixes the y axes to [0, 1] (MCC)."""
    apply_style()
    fig, axes = plt.subplots(
        1, len(panels), figsize=(FIG_WIDTH, 3.0), layout="constrained", sharey=True, squeeze=False
    )
    colours = model_colours(models)
    for ax, (name, histories) in zip(axes[0], panels, strict=True):
        for model in models:
            runs = histories[(histories["model"] == model) & (histories["status"] == "ok")]
            if runs.empty:
                continue
            stats = runs.groupby("epoch")[metric].agg(["mean", "std", "count"]).reset_index()
            ax.plot(stats["epoch"], stats["mean"], color=colours[model], label=labels[model])
            std_band(ax, stats["epoch"], stats["mean"], stats["std"], colours[model])
        ax.set_xlabel("epoch")
        ax.set_title(name, fontsize=8)
        if unit_range:
            ax.set_ylim(0, 1.02)
    axes[0][0].set_ylabel(ylabel)
    _legend_below(fig, axes[0])
    fig.suptitle(title)
    return fig


def _legend_below(fig: Figure, axes: Sequence) -> None:
    """One legend for all panels, below them (every model once, in the panels' order)."""
    entries = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(text, handle)
    fig.legend(entries.values(), entries.keys(), loc="outside lower center", ncols=4)


def plot_against(
    panels: Sequence[tuple[str, pd.DataFrame]],
    x: str,
    models: Sequence[str],
    labels: Mapping[str, str],
    title: str,
    xlabel: str,
    metric: str = "mcc",
) -> Figure:
    """One panel per (panel title, summary): each finished run's final ``metric`` against
    ``x`` (small dots, jittered), with the mean ± std per model and x value."""
    apply_style()
    fig, axes = plt.subplots(
        1, len(panels), figsize=(FIG_WIDTH, 3.0), layout="constrained", sharey=True, squeeze=False
    )
    colours = model_colours(models)
    offsets = np.linspace(-0.15, 0.15, len(models)) if len(models) > 1 else [0.0]
    for ax, (name, summary) in zip(axes[0], panels, strict=True):
        for offset, model in zip(offsets, models, strict=True):
            runs = summary[(summary["model"] == model) & (summary["status"] == "ok")]
            if runs.empty:
                continue
            ax.scatter(runs[x] + offset, runs[metric], color=colours[model], s=6, alpha=0.4)
            stats = runs.groupby(x)[metric].agg(["mean", "std"]).reset_index()
            ax.errorbar(
                stats[x] + offset,
                stats["mean"],
                yerr=stats["std"].fillna(0.0),
                color=colours[model],
                marker="o",
                capsize=2,
                label=labels[model],
            )
        ax.set_xticks(sorted(summary[x].unique()))
        ax.set_xlabel(xlabel)
        ax.set_title(name, fontsize=8)
        ax.set_ylim(0, 1.02)
    axes[0][0].set_ylabel("MCC")
    _legend_below(fig, axes[0])
    fig.suptitle(title)
    return fig


def plot_mcc_against(
    summary: pd.DataFrame,
    properties: Sequence[tuple[str, str]],
    models: Sequence[str],
    labels: Mapping[str, str],
    notes: Mapping[tuple[str, str], str],
    title: str,
) -> Figure:
    """A grid of two panels a row, one per (column, title) of ``properties``: each finished
    run's final MCC against that property of its dataset, one colour per model, and in each
    panel one note per model (``notes[model, column]``, e.g. a rank correlation)."""
    apply_style()
    rows = -(-len(properties) // 2)
    fig, axes = plt.subplots(
        rows, 2, figsize=(FIG_WIDTH, 2.4 * rows + 0.6), layout="constrained", sharey=True,
        squeeze=False,
    )  # fmt: skip
    colours = model_colours(models)
    runs = summary[summary["status"] == "ok"]
    for ax, (column, name) in zip(axes.flat, properties, strict=False):
        for i, model in enumerate(models):
            cell = runs[runs["model"] == model]
            ax.scatter(cell[column], cell["mcc"], color=colours[model], s=14, alpha=0.8,
                       label=labels[model])  # fmt: skip
            ax.text(0.02, 0.04 + 0.09 * i, notes.get((model, column), ""), color=colours[model],
                    transform=ax.transAxes, fontsize=7)  # fmt: skip
        ax.set_title(name, fontsize=8)
        ax.set_ylim(0, 1.02)
    for ax in axes.flat[len(properties) :]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("final MCC")
    _legend_below(fig, axes.flat[: len(properties)])
    fig.suptitle(title)
    return fig


def plot_elbo_mcc(panels: Sequence[tuple[str, pd.DataFrame]], title: str) -> Figure:
    """One panel per (panel title, summary with ``elbo_gap``): each finished run's final ELBO
    relative to the best on its dataset against its final MCC, coloured by the learning rate
    and shaped by the depth."""
    apply_style()
    fig, axes = plt.subplots(
        1, len(panels), figsize=(FIG_WIDTH, 3.4), layout="constrained", sharey=True, squeeze=False
    )
    every = pd.concat([summary for _, summary in panels])
    every = every[every["status"] == "ok"]
    markers = dict(zip(sorted(every["layers"].unique()), "os^Dv<>", strict=False))
    colours = dict(zip(sorted(every["lr"].unique()), PALETTE, strict=False))
    for ax, (name, summary) in zip(axes[0], panels, strict=True):
        runs = summary[summary["status"] == "ok"]
        for (layers, lr), cell in runs.groupby(["layers", "lr"]):
            ax.scatter(
                cell["elbo_gap"],
                cell["mcc"],
                marker=markers[layers],
                color=colours[lr],
                s=18,
                alpha=0.8,
                label=f"{layers} layers, lr {lr:g}",
            )
        ax.set_xlabel("final ELBO per point minus its dataset's best")
        ax.set_title(name, fontsize=7)
        ax.set_ylim(0, 1.02)
    axes[0][0].set_ylabel("MCC")
    _legend_below(fig, axes[0])
    fig.suptitle(title)
    return fig


def plot_box_panels(
    panels: Sequence[tuple[str, Mapping[str, np.ndarray], str, float | None]], title: str
) -> Figure:
    """One box plot per panel (panel title, {group label: values}, y label, a dashed reference
    line or None), each run a dot over its box; y axes on [0, 1]."""
    apply_style()
    fig, axes = plt.subplots(
        1, len(panels), figsize=(FIG_WIDTH, 3.0), layout="constrained", squeeze=False
    )
    colours = model_colours(list(dict.fromkeys(k for _, groups, _, _ in panels for k in groups)))
    for ax, (name, groups, ylabel, reference) in zip(axes[0], panels, strict=True):
        labels = list(groups)
        ax.boxplot([groups[k] for k in labels], widths=0.5, showfliers=False)
        for i, label in enumerate(labels, start=1):
            values = np.asarray(groups[label], dtype=float)
            jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
            ax.scatter(i + np.asarray(jitter), values, color=colours[label], s=10, zorder=3)
        ax.set_xticks(range(1, len(labels) + 1), labels)
        if reference is not None:
            ax.axhline(reference, color="grey", linestyle="--", linewidth=0.8)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel(ylabel)
        ax.set_title(name, fontsize=8)
    fig.suptitle(title)
    return fig
