"""Estimated causal graphs side by side (the iVAE paper's Fig. 4 stand-in, docs/papers/ivae.md
section 8).

Every panel draws the same nodes at the same places (on a circle, in the given order, clockwise
from the top), so graphs from different methods compare at a glance. An edge's colour says whether
it is feasible (blue) or not (red) and its width and opacity grow with its weight, the fraction of
fits that found it."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch

from identvae.figures.style import FIG_WIDTH, PALETTE, apply_style, plt

#: An edge to draw: source, target, weight in (0, 1], feasible.
DrawnEdge = tuple[int, int, float, bool]

FEASIBLE_COLOUR = PALETTE[0]  # blue
INFEASIBLE_COLOUR = "#d62728"  # matplotlib tab:red (the palette has no true red)
_MAX_NODE_RADIUS = 0.24
_LIMIT = 1.0 + _MAX_NODE_RADIUS + 0.08
#: Largest and smallest font size of a name drawn inside its node; below the smallest, names go
#: outside the nodes instead.
_INSIDE_FONT = (7.0, 5.0)
_OUTSIDE_FONT = 6.5
#: Width of one character as a fraction of the font size (a generous sans-serif average).
_CHAR_WIDTH = 0.62


def circle_layout(n_nodes: int) -> np.ndarray:
    """Node positions [n, 2] on the unit circle, the first at the top, then clockwise."""
    angles = np.pi / 2 - 2 * np.pi * np.arange(n_nodes) / max(n_nodes, 1)
    return np.column_stack([np.cos(angles), np.sin(angles)])


def node_radius(n_nodes: int) -> float:
    """Radius of a node circle: at most a quarter of the gap between neighbours on the circle,
    so arrows between neighbours stay long enough to show their heads."""
    if n_nodes < 2:
        return _MAX_NODE_RADIUS
    return min(_MAX_NODE_RADIUS, 0.5 * np.sin(np.pi / n_nodes))


def edge_style(weight: float, feasible: bool) -> dict[str, object]:
    """Line width, opacity and colour of an edge: faint and thin for rarely found edges."""
    if not 0 < weight <= 1:
        raise ValueError(f"edge weight must be in (0, 1], got {weight}")
    return {
        "linewidth": 0.5 + 2.0 * weight,
        "alpha": 0.25 + 0.75 * weight,
        "color": FEASIBLE_COLOUR if feasible else INFEASIBLE_COLOUR,
    }


def label_font(names: Sequence[str], diameter_pt: float) -> tuple[float, bool]:
    """``(font size, inside)``: the largest size up to 7 pt at which the longest name fits in a
    node of ``diameter_pt`` points, or a fixed size outside the nodes when that would be < 5 pt."""
    longest = max((len(n) for n in names), default=1)
    size = 0.85 * diameter_pt / (_CHAR_WIDTH * max(longest, 1))
    if size >= _INSIDE_FONT[1]:
        return min(size, _INSIDE_FONT[0]), True
    return _OUTSIDE_FONT, False


def _draw_labels(
    ax: Axes, names: Sequence[str], pos: np.ndarray, radius: float, font: tuple[float, bool]
) -> None:
    """Names centred in their nodes, or just outside them, aligned away from the circle."""
    size, inside = font
    for name, p in zip(names, pos, strict=True):
        if inside:
            ax.text(*p, name, ha="center", va="center", fontsize=size, zorder=4)
            continue
        cos, sin = p
        ha = "left" if cos > 0.2 else "right" if cos < -0.2 else "center"
        va = "bottom" if sin > 0.2 else "top" if sin < -0.2 else "center"
        ax.text(*(p * (1 + radius + 0.04)), name, ha=ha, va=va, fontsize=size, zorder=4)


def _draw_panel(
    ax: Axes,
    title: str,
    edges: Sequence[DrawnEdge],
    names: Sequence[str],
    font: tuple[float, bool],
) -> None:
    """Nodes, names and arrows of one graph on ``ax``."""
    pos, radius = circle_layout(len(names)), node_radius(len(names))
    nodes = [
        Circle(p, radius, facecolor="white", edgecolor="#333333", linewidth=0.8, zorder=3)
        for p in pos
    ]
    for node in nodes:
        ax.add_patch(node)
    _draw_labels(ax, names, pos, radius, font)
    # heaviest edges last, so they sit on top of faint ones
    for a, b, weight, feasible in sorted(edges, key=lambda e: e[2]):
        if a == b:
            raise ValueError(f"self-loop on node {a} cannot be drawn")
        arrow = FancyArrowPatch(
            tuple(pos[a]),
            tuple(pos[b]),
            patchA=nodes[a],
            patchB=nodes[b],
            # a slight bend keeps a → b and b → a apart (they bend to opposite sides)
            connectionstyle="arc3,rad=0.12",
            arrowstyle="-|>",
            mutation_scale=6 + 4 * weight,
            shrinkA=1,
            shrinkB=1,
            zorder=2,
            **edge_style(weight, feasible),
        )
        ax.add_patch(arrow)
    ax.set_xlim(-_LIMIT, _LIMIT)
    ax.set_ylim(-_LIMIT, _LIMIT)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9, pad=10)  # clear of the top node's label


def plot_graphs(
    panels: Sequence[tuple[str, Sequence[DrawnEdge]]], names: Sequence[str], title: str
) -> Figure:
    """One graph per panel ``(panel_title, edges)``, side by side, on a shared node layout.

    ``edges`` are ``(a, b, weight, feasible)``: an arrow from node ``a`` to node ``b`` (indices into
    ``names``), blue if feasible and red otherwise, wider and more opaque with ``weight``."""
    if not panels:
        raise ValueError("need at least one panel")
    apply_style()
    width = min(FIG_WIDTH, 2.6 * len(panels))
    panel_in = width / len(panels)
    # titles wrapped to their panel's width (about 0.55 em per character at 9 pt)
    chars = max(12, int(panel_in * 72 / (0.55 * 9)))
    titles = [textwrap.fill(t, chars) for t, _ in panels]
    lines = max(t.count("\n") + 1 for t in titles)
    height = panel_in + 0.55 + 0.16 * (lines - 1)
    fig, axes = plt.subplots(1, len(panels), figsize=(width, height), layout="constrained")
    # an axes spans about 85% of its panel's width once the layout adds its margins
    diameter_pt = 2 * node_radius(len(names)) * 0.85 * panel_in / (2 * _LIMIT) * 72
    font = label_font(names, diameter_pt)
    for ax, panel_title, (_, edges) in zip(np.atleast_1d(axes), titles, panels, strict=True):
        _draw_panel(ax, panel_title, edges, names, font)
    handles = [
        Line2D([], [], color=FEASIBLE_COLOUR, linewidth=1.8, label="feasible"),
        Line2D([], [], color=INFEASIBLE_COLOUR, linewidth=1.8, label="infeasible"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle(title)
    return fig
