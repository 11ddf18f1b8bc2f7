"""Write one table as CSV (machine-readable), Markdown (report) and LaTeX (paper), atomically.

The LaTeX is produced here rather than by ``DataFrame.to_latex`` because since pandas 2 that
goes through ``Styler`` and needs jinja2; a booktabs tabular is simple enough to emit directly
and then behaves the same on every pandas version."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from identvae.io import atomic_path, write_text

FORMATS = ("csv", "md", "tex")
NA_REP = "n/a"

_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """Escape the characters LaTeX treats specially, so column names like mcc_batch compile."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def _format_cell(value: object, float_format: str) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return NA_REP
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating):
        return NA_REP if math.isnan(value) else float_format % value
    if isinstance(value, int | np.integer):
        return str(int(value))
    return str(value)


def format_frame(df: pd.DataFrame, float_format: str = "%.3g") -> pd.DataFrame:
    """All cells as display strings: floats via ``float_format``, missing values as "n/a"."""
    return pd.DataFrame(
        {col: [_format_cell(v, float_format) for v in df[col].tolist()] for col in df.columns},
        index=df.index,
        dtype=object,
    )


def to_markdown(df: pd.DataFrame, float_format: str = "%.3g") -> str:
    """GitHub Markdown table; numbers are pre-formatted so tabulate does not re-parse them."""
    text = format_frame(df, float_format).to_markdown(
        index=False, disable_numparse=True, colalign=_alignments(df, "left", "right")
    )
    return text + "\n"


def to_latex(df: pd.DataFrame, float_format: str = "%.3g") -> str:
    """booktabs ``tabular`` (needs ``\\usepackage{booktabs}``); numeric columns right-aligned."""
    cells = format_frame(df, float_format)
    spec = "".join(_alignments(df, "l", "r"))
    lines = [
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(latex_escape(str(c)) for c in df.columns) + r" \\",
        "\\midrule",
    ]
    for row in cells.itertuples(index=False):
        lines.append(" & ".join(latex_escape(v) for v in row) + r" \\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def _alignments(df: pd.DataFrame, text: str, number: str) -> list[str]:
    return [
        number
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
        else text
        for c in df.columns
    ]


def write_table(
    df: pd.DataFrame,
    stem: str | os.PathLike,
    formats: Sequence[str] = FORMATS,
    float_format: str = "%.3g",
) -> list[Path]:
    """Write ``<stem>.csv``/``.md``/``.tex``; return the paths written.

    ``float_format`` applies to the human-readable Markdown and LaTeX only; the CSV keeps full
    precision so it round-trips exactly and downstream code (claims) never reads rounded
    numbers. The index is not written: tables carry their keys as columns."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown table format(s) {sorted(unknown)}; choose from {FORMATS}")
    stem = Path(stem)
    written = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        if fmt == "csv":
            with atomic_path(path, suffix=".csv") as tmp:
                df.to_csv(tmp, index=False)
        elif fmt == "md":
            write_text(path, to_markdown(df, float_format))
        else:
            write_text(path, to_latex(df, float_format))
        written.append(path)
    return written
