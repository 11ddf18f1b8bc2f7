"""What a figure, a table or a claim of an experiment reads: its summary and, where its registry
entry declares them, its histories, its latents and other experiments' summaries."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from identvae.io import ArtifactError


@dataclass
class ExperimentData:
    """An experiment's tables: ``summary`` (one row per run), ``histories`` (one row per run and
    check; None unless declared), ``latents`` and ``pictures`` (the paths of those files; None
    unless declared) and ``others`` (other experiments' summaries, by experiment name)."""

    summary: pd.DataFrame
    histories: pd.DataFrame | None = None
    latents: Path | None = None
    pictures: Path | None = None
    others: dict[str, pd.DataFrame] = field(default_factory=dict)

    @classmethod
    def from_paths(cls, paths: dict[str, str | os.PathLike]) -> ExperimentData:
        """Read the files named by input key (:func:`~identvae.experiments.registry.input_key`);
        a missing or unreadable file raises an error naming its path."""
        if "summary" not in paths:
            raise ValueError(f"an experiment's inputs need a summary, got {sorted(paths)}")
        others = {
            key.split("__", 1)[1]: _read_csv(path)
            for key, path in paths.items()
            if key.startswith("summary__")
        }
        return cls(
            summary=_read_csv(paths["summary"]),
            histories=_read_csv(paths["histories"]) if "histories" in paths else None,
            latents=Path(paths["latents"]) if "latents" in paths else None,
            pictures=Path(paths["pictures"]) if "pictures" in paths else None,
            others=others,
        )


def _read_csv(path: str | os.PathLike) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise ArtifactError(f"missing table: {path}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ArtifactError(f"corrupt table {path}: {err}") from None
