"""One paper style for every figure, and an atomic PDF+PNG writer.

The machines that build figures have no display, so the non-interactive Agg backend is selected
before pyplot is imported anywhere through this module."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from identvae.io import atomic_path  # noqa: E402

#: Colour-blind-safe palette shared by all figures (seaborn "colorblind").
PALETTE: list[str] = sns.color_palette("colorblind").as_hex()
#: Fixed roles, so the same quantity has the same colour in every figure.
COLORS: dict[str, str] = {
    "mcc": PALETTE[0],  # blue
    "cima": PALETTE[3],  # vermillion
    "chance": "#555555",
    "annotation": "#444444",
}

#: Width of a single-column figure in inches (NeurIPS text width is 5.5in).
FIG_WIDTH = 5.5

_RC: dict[str, object] = {
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "figure.titlesize": 10,
    "axes.linewidth": 0.8,
    "grid.linewidth": 0.5,
    "grid.alpha": 0.6,
    "lines.linewidth": 1.2,
    "text.usetex": False,  # no LaTeX installation needed; mathtext covers the symbols
    "pdf.fonttype": 42,  # embed TrueType so text stays selectable/editable in the PDF
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
    "figure.dpi": 100,
}


def apply_style() -> None:
    """Set the shared paper style globally (idempotent), so every figure looks the same."""
    sns.set_theme(context="paper", style="ticks", palette="colorblind", rc=_RC)
    plt.rcParams.update({"axes.grid": True, "axes.grid.axis": "y"})


def save_figure(
    fig: Figure,
    pdf_path: str | os.PathLike,
    png_path: str | os.PathLike,
    dpi: int = 200,
) -> None:
    """Write ``fig`` as PDF and PNG atomically and close it (figures leak memory otherwise).

    Creation dates and software tags are left out of the metadata so that re-rendering the same
    data gives byte-identical files and Snakemake sees no spurious change."""
    try:
        with atomic_path(pdf_path, suffix=".pdf") as tmp:
            fig.savefig(tmp, format="pdf", metadata={"CreationDate": None, "Producer": None})
        with atomic_path(png_path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        plt.close(fig)


def std_band(ax, x, mean, std, color: str) -> None:  # noqa: ANN001 (axes and array-likes)
    """Shade mean ± std (a missing std, one run, as 0) around a curve."""
    std = std.fillna(0.0)
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
