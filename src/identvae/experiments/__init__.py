"""One module per experiment, named as in the config. Each turns the experiment's summary table
into its table (``table(summary)``), its figures (``FIGURES``: figure name -> (figure function,
caption function), both called as ``fn(summary, **extras)``) and its paper claims
(``claims(summary, **extras)``); ``extras(settings)`` gives the values they need from the
experiment's settings. :mod:`identvae.experiments.catalog` lists the names without importing
anything heavy, for the workflow's parse time."""

from __future__ import annotations

import importlib
from types import ModuleType


def load(name: str) -> ModuleType:
    try:
        return importlib.import_module(f"identvae.experiments.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"identvae.experiments.{name}":
            raise
        raise KeyError(f"no experiment module identvae.experiments.{name}") from None
