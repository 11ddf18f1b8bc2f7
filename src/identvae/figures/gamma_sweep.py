"""Violin figures of per-run metrics against a swept hyperparameter (E1: decoder precision γ²).

The axis helpers (:func:`draw_violins`, :func:`violins_by_category`, :func:`count_labels`,
:func:`twin_axis`) take a plain Matplotlib axis and no experiment-specific names, so the other
sweeps (E3, E5) can reuse them with a different category column and metric."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from identvae.analysis.runs import OK
from identvae.analysis.scales import safe_log10
from identvae.figures.style import COLORS, FIG_WIDTH, apply_style


def draw_violins(
    ax: Axes,
    groups: Sequence[np.ndarray],
    positions: Sequence[float],
    *,
    color: str,
    width: float = 0.34,
    points: bool = True,
    jitter: float = 0.05,
    seed: int = 0,
) -> None:
    """Draw one violin, a median tick and the individual values per group at ``positions``.

    Non-finite values are dropped. A group with no finite value draws nothing; a group whose
    values are all equal (a single run included) draws only the points (and median), because a
    kernel density of zero spread does not exist."""
    rng = np.random.default_rng(seed)
    for pos, group in zip(positions, groups, strict=True):
        values = np.asarray(group, dtype=float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        if values.size >= 2 and np.ptp(values) > 0:
            try:
                parts = ax.violinplot(
                    [values], positions=[pos], widths=width, showextrema=False, showmedians=False
                )
            except (np.linalg.LinAlgError, ValueError):  # degenerate KDE: show points only
                parts = {"bodies": []}
            for body in parts["bodies"]:
                body.set_facecolor(color)
                body.set_edgecolor(color)
                body.set_linewidth(0.8)
                body.set_alpha(0.3)
        if values.size > 1:  # a lone run's bar would hide its point
            median = float(np.median(values))
            ax.hlines(median, pos - 0.3 * width, pos + 0.3 * width, color=color, lw=2.0, zorder=4)
        if points:
            x = pos + rng.uniform(-jitter, jitter, size=values.size)
            ax.scatter(
                x, values, s=7, color=color, edgecolors="white", linewidths=0.3, alpha=0.9, zorder=3
            )


def violins_by_category(
    ax: Axes,
    df: pd.DataFrame,
    column: str,
    category: str,
    categories: Sequence[object],
    positions: Sequence[float],
    *,
    color: str,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    status_column: str = "status",
    **kwargs: object,
) -> list[np.ndarray]:
    """Draw violins of ``column`` for each value in ``categories`` (rows with status "ok" only).

    ``transform`` maps raw values to the plotted scale (e.g. a safe log10); values it turns into
    NaN/inf are skipped. Returns the plotted finite values per category, for annotations."""
    ok = df[df[status_column] == OK] if status_column in df else df
    groups: list[np.ndarray] = []
    for cat in categories:
        values = ok.loc[ok[category] == cat, column].to_numpy(dtype=float)
        if transform is not None:
            values = transform(values)
        groups.append(values[np.isfinite(values)])
    draw_violins(ax, groups, positions, color=color, **kwargs)  # type: ignore[arg-type]
    return groups


def count_labels(
    df: pd.DataFrame,
    category: str,
    categories: Sequence[object],
    status_column: str = "status",
) -> list[str]:
    """Per category: "n=<ok runs>" plus one "(k <status>)" line per non-ok status.

    Runs that did not finish are never dropped silently: they appear here even when they
    contribute no point to the plot."""
    labels = []
    for cat in categories:
        rows = df[df[category] == cat]
        statuses = rows[status_column] if status_column in rows else pd.Series(OK, index=rows.index)
        lines = [f"n={int((statuses == OK).sum())}"]
        for status, k in statuses[statuses != OK].value_counts().sort_index().items():
            lines.append(f"({k} {status})")
        labels.append("\n".join(lines))
    return labels


def power_of_ten_label(value: float) -> str:
    """Mathtext label for a power of ten, e.g. 1e4 -> $10^{4}$; any other number as it is
    written (400 -> "400", not a rounded $10^{2.6}$)."""
    if not np.isfinite(value) or value <= 0:
        return str(value)
    exponent = float(np.log10(value))
    if abs(exponent - round(exponent)) < 1e-9:
        return f"$10^{{{round(exponent)}}}$"
    return f"{value:g}"


def twin_axis(ax: Axes, left_color: str, right_color: str) -> Axes:
    """Create a right-hand y-axis and colour each y-axis (spine, ticks, label) like its data."""
    right = ax.twinx()
    right.grid(False)
    right.spines["right"].set_visible(True)
    for axis, side, color in ((ax, "left", left_color), (right, "right", right_color)):
        axis.spines[side].set_color(color)
        axis.tick_params(axis="y", colors=color)
        axis.yaxis.label.set_color(color)
    return right


def plot_gamma_sweep(
    summary: pd.DataFrame,
    chance_mcc: float | None = None,
    title: str | None = None,
    names: Mapping[float, str] | None = None,
) -> Figure:
    """Batch MCC (left axis) and log10 batch c_IMA (right axis) per decoder precision γ².

    Every γ² present in ``summary`` gets a position, even if none of its runs finished, so a
    failed group is visible as an empty slot with its run count instead of vanishing.
    ``names`` labels a γ² on the axis in place of its value."""
    apply_style()
    gammas = sorted(float(g) for g in summary["gamma2"].dropna().unique())
    positions = np.arange(len(gammas), dtype=float)
    offset, width = 0.2, 0.34

    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.3), layout="constrained")
    right = twin_axis(ax, COLORS["mcc"], COLORS["cima"])
    violins_by_category(
        ax,
        summary,
        "mcc_batch",
        "gamma2",
        gammas,
        positions - offset,
        color=COLORS["mcc"],
        width=width,
        seed=0,
    )
    violins_by_category(
        right,
        summary,
        "cima_batch",
        "gamma2",
        gammas,
        positions + offset,
        color=COLORS["cima"],
        width=width,
        transform=safe_log10,
        seed=1,
    )

    handles: list[object] = [
        Patch(facecolor=COLORS["mcc"], alpha=0.5, label="batch MCC (left)"),
        Patch(
            facecolor=COLORS["cima"],
            alpha=0.5,
            label=r"$\log_{10}$ batch $c_{\mathrm{IMA}}$ (right)",
        ),
    ]
    if chance_mcc is not None and np.isfinite(chance_mcc):
        ax.axhline(chance_mcc, color=COLORS["chance"], ls="--", lw=1.0, zorder=1)
        handles.append(Line2D([], [], color=COLORS["chance"], ls="--", lw=1.0, label="chance"))

    ax.set_xticks(
        positions,
        [
            f"{(names or {}).get(g) or power_of_ten_label(g)}\n{c}"
            for g, c in zip(gammas, count_labels(summary, "gamma2", gammas), strict=True)
        ],
    )
    ax.set_xlim(-0.6, len(gammas) - 0.4)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel(r"decoder precision $\gamma^2$")
    ax.set_ylabel("batch MCC")
    right.set_ylabel(r"$\log_{10}$ batch $c_{\mathrm{IMA}}$ (decoder)")
    right.margins(y=0.08)
    ax.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=len(handles),
        frameon=False,
        handlelength=1.6,
        columnspacing=1.2,
    )
    if title:
        fig.suptitle(title)
    return fig
